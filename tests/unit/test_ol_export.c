/* test_ol_export.c: the audit export against a real catalog and erasure
 * set in a temporary directory — the system bucket's creation and its
 * refusal of an unlocked bucket, objects only for real events, every entry
 * exported exactly once, and both crash windows of a pass (after
 * `pending` was recorded but before the object was written; after the
 * object committed but before `done` was recorded). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cf.h"
#include "ec.h"
#include "meta.h"
#include "ol.h"

static char root[] = "/tmp/coffer-test-export-XXXXXX";
static struct meta_db *db;
static struct ec_set *set;
static const struct ol_export_config cfg = {"coffer-audit", 1000, 7, "ROOT"};

static uint64_t counter(const char *name)
{
    uint64_t v;
    assert_int_equal(meta_counter_get(db, name, &v), META_OK);
    return v;
}

struct vlist {
    char keys[16][64];
    char vids[16][65];
    int n;
};

static void list_exports(struct vlist *out)
{
    struct meta_list_params p;
    struct meta_versions_result r;
    size_t i;

    memset(&p, 0, sizeof(p));
    memset(out, 0, sizeof(*out));
    p.prefix = "audit/";
    p.prefix_len = 6;
    p.delimiter = "";
    p.start_after = "";
    p.max_keys = 100;
    assert_int_equal(meta_list_versions(db, cfg.bucket, &p, NULL, &r), META_OK);
    for (i = 0; i < r.n && out->n < 16; i++) {
        snprintf(out->keys[out->n], 64, "%.*s", (int)r.entries[i].key_len,
                 r.entries[i].key);
        snprintf(out->vids[out->n], 65, "%s", r.entries[i].version_id);
        out->n++;
    }
    meta_versions_result_cleanup(&r);
}

static void event(const char *what)
{
    char ev[128];
    snprintf(ev, sizeof(ev), "{\"by\":\"tester\",\"event\":\"%s\"}", what);
    assert_int_equal(meta_audit_log(db, ol_clock_now(), ev), META_OK);
}

static unsigned run(void)
{
    unsigned n = 99;
    assert_int_equal(ol_export_run(db, set, &cfg, &n), OL_OK);
    return n;
}

static void test_prepare(void **state)
{
    struct meta_bucket b, plain;
    struct ol_export_config bad = cfg;
    (void)state;

    assert_int_equal(ol_export_prepare(db, &cfg), OL_OK);
    assert_int_equal(meta_bucket_get(db, cfg.bucket, &b), META_OK);
    assert_int_equal(b.lock_enabled, 1);
    assert_int_equal(b.lock_mode, OL_MODE_COMPLIANCE);
    assert_int_equal(b.lock_years, 7);
    assert_int_equal(b.versioning, META_VERSIONING_ENABLED);
    assert_string_equal(b.owner, "ROOT");
    /* idempotent */
    assert_int_equal(ol_export_prepare(db, &cfg), OL_OK);
    /* an existing bucket without a COMPLIANCE default is refused */
    memset(&plain, 0, sizeof(plain));
    snprintf(plain.name, sizeof(plain.name), "plain");
    assert_int_equal(meta_bucket_create(db, &plain, NULL), META_OK);
    bad.bucket = "plain";
    assert_int_equal(ol_export_prepare(db, &bad), OL_EINVAL);
}

static void test_exactly_once(void **state)
{
    struct vlist l;
    struct meta_version v;
    uint64_t done;
    (void)state;

    /* only the exporter's own entry (the bucket's creation): no object */
    assert_int_equal(run(), 0);
    assert_int_equal(counter("audit_export_done"), 0);

    event("one");
    event("two");
    event("three");
    assert_int_equal(run(), 1);
    done = counter("audit_export_done");
    assert_true(done >= 4);
    assert_int_equal(counter("audit_export_pending"), done);
    list_exports(&l);
    assert_int_equal(l.n, 1);
    {
        char want[64];
        snprintf(want, sizeof(want), "audit/%020d-%020llu.jsonl", 1,
                 (unsigned long long)done);
        assert_string_equal(l.keys[0], want);
    }
    /* locked COMPLIANCE for 7 years from the compliance clock */
    assert_int_equal(meta_object_get(db, cfg.bucket, l.keys[0],
                                     strlen(l.keys[0]), l.vids[0], &v),
                     META_OK);
    assert_int_equal(v.lock_mode, OL_MODE_COMPLIANCE);
    assert_true(v.retain_until_ms >= ol_add_years(ol_clock_now(), 7) - 60000);
    assert_int_equal(strlen(v.sha256), 64);
    meta_version_cleanup(&v);

    /* nothing new but the export's own put-locked entry: no object */
    assert_int_equal(run(), 0);
    assert_int_equal(counter("audit_export_done"), done);

    /* crash window 1: pending recorded, object never written */
    event("four");
    assert_int_equal(meta_counter_set(db, "audit_export_pending", done + 2),
                     META_OK);
    event("five");              /* after the crash, more entries arrive */
    assert_int_equal(run(), 2); /* the pending range, then the rest */
    list_exports(&l);
    assert_int_equal(l.n, 3);
    {
        char want[64];
        snprintf(want, sizeof(want), "audit/%020llu-%020llu.jsonl",
                 (unsigned long long)(done + 1),
                 (unsigned long long)(done + 2));
        assert_string_equal(l.keys[1], want);
    }
    done = counter("audit_export_done");

    /* crash window 2: the object committed, done not recorded */
    event("six");
    {
        uint64_t before = done;
        assert_int_equal(run(), 1);
        done = counter("audit_export_done");
        assert_int_equal(meta_counter_set(db, "audit_export_done", before),
                         META_OK);
        /* pending == done: the pass rebuilds the same range and finds it */
        assert_int_equal(run(), 0);
        assert_int_equal(counter("audit_export_done"), done);
    }
    list_exports(&l);
    assert_int_equal(l.n, 4); /* no second version of any export */
}

/* Every exported line, read back through the erasure layer, follows the
 * one before: seq + 1, prev = the previous hash. */
static void test_contents_chain(void **state)
{
    struct vlist l;
    uint64_t next = 1;
    char prev[65];
    int i;
    (void)state;

    memset(prev, '0', 64);
    prev[64] = '\0';
    list_exports(&l);
    assert_true(l.n >= 1);
    for (i = 0; i < l.n; i++) {
        struct meta_version v;
        struct ec_reader *r;
        char *buf, *line, *save = NULL;
        assert_int_equal(meta_object_get(db, cfg.bucket, l.keys[i],
                                         strlen(l.keys[i]), l.vids[i], &v),
                         META_OK);
        buf = calloc(1, v.size + 1);
        assert_non_null(buf);
        assert_int_equal(ec_reader_open(set, v.data_id, v.size, &r), EC_OK);
        assert_int_equal(ec_reader_read(r, 0, buf, v.size, NULL), EC_OK);
        ec_reader_free(r);
        for (line = strtok_r(buf, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            char want[128];
            snprintf(want, sizeof(want), "{\"seq\":%llu,",
                     (unsigned long long)next);
            assert_true(strncmp(line, want, strlen(want)) == 0);
            snprintf(want, sizeof(want), "\"prev\":\"%s\"", prev);
            assert_non_null(strstr(line, want));
            memcpy(prev, strstr(line, "\"hash\":\"") + 8, 64);
            next++;
        }
        free(buf);
        meta_version_cleanup(&v);
    }
}

static int setup(void **state)
{
    char meta[200], disks[6][200];
    const char *dp[6];
    struct ec_config ec;
    int i;
    (void)state;

    if (mkdtemp(root) == NULL) return 1;
    snprintf(meta, sizeof(meta), "%s/meta", root);
    for (i = 0; i < 6; i++) {
        snprintf(disks[i], sizeof(disks[i]), "%s/disk%d", root, i + 1);
        dp[i] = disks[i];
    }
    memset(&ec, 0, sizeof(ec));
    ec.disks = dp;
    ec.ndisks = 6;
    ec.data = 4;
    ec.parity = 2;
    ec.stripe_size = 256 * 1024;
    if (meta_open(meta, &db) != META_OK) return 1;
    if (ec_set_open(&ec, &set) != EC_OK) return 1;
    return ol_clock_start(NULL, NULL, NULL) == 0 ? 0 : 1;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    meta_close(db);
    ec_set_free(set);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    return system(cmd) == 0 ? 0 : 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prepare),
        cmocka_unit_test(test_exactly_once),
        cmocka_unit_test(test_contents_chain),
    };
    cf_log_set_level(CF_LOG_ERR);
    return cmocka_run_group_tests(tests, setup, teardown);
}
