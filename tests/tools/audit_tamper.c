/* audit_tamper.c: TEST-ONLY tool that damages the audit log of a STOPPED
 * server's catalog, so tests can prove `coffer audit verify` and
 * `coffer audit report` detect it. It speaks RocksDB directly (not meta),
 * on purpose: an attacker would too.
 *
 *   audit_tamper META_DIR edit SEQ     flip one byte of entry SEQ's event
 *   audit_tamper META_DIR delete SEQ   remove entry SEQ
 *
 * A rec layout (meta/meta_int.h): format u8 | seq u64 | time i64 |
 * prev 32 | event str (u32 length + bytes) | hash 32. */
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    rocksdb_options_t *o;
    rocksdb_readoptions_t *ro;
    rocksdb_writeoptions_t *wo;
    rocksdb_t *db;
    char *err = NULL, key[19], *v, *end;
    size_t vl;
    unsigned long long seq;
    int rc = 1;

    if (argc != 4 || (strcmp(argv[2], "edit") && strcmp(argv[2], "delete"))) {
        fprintf(stderr, "usage: audit_tamper META_DIR edit|delete SEQ\n");
        return 2;
    }
    seq = strtoull(argv[3], &end, 10);
    if (*end || seq == 0) return 2;
    snprintf(key, sizeof(key), "A/%016llx", seq);
    o = rocksdb_options_create();
    ro = rocksdb_readoptions_create();
    wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(wo, 1);
    db = rocksdb_open(o, argv[1], &err);
    if (err) {
        fprintf(stderr, "audit_tamper: open %s: %s\n", argv[1], err);
        free(err);
        goto out;
    }
    v = rocksdb_get(db, ro, key, 18, &vl, &err);
    if (err || v == NULL || vl < 1 + 8 + 8 + 32 + 4 + 2 + 32) {
        fprintf(stderr, "audit_tamper: no entry %llu\n", seq);
        free(err);
        free(v);
        goto out_close;
    }
    if (strcmp(argv[2], "edit") == 0) {
        v[1 + 8 + 8 + 32 + 4 + 1] ^= 0x01; /* second byte of the event */
        rocksdb_put(db, wo, key, 18, v, vl, &err);
    } else {
        rocksdb_delete(db, wo, key, 18, &err);
    }
    free(v);
    if (err) {
        fprintf(stderr, "audit_tamper: write: %s\n", err);
        free(err);
        goto out_close;
    }
    rc = 0;
out_close:
    rocksdb_close(db);
out:
    rocksdb_writeoptions_destroy(wo);
    rocksdb_readoptions_destroy(ro);
    rocksdb_options_destroy(o);
    return rc;
}
