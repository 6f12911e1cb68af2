/* audit_tamper.c: TEST-ONLY tool that damages the audit log of a STOPPED
 * server's catalog, so tests can prove `coffer audit verify` and
 * `coffer audit report` detect it. It speaks RocksDB directly (not meta),
 * on purpose: an attacker would too.
 *
 *   audit_tamper META_DIR edit SEQ     flip one byte of entry SEQ's event
 *   audit_tamper META_DIR delete SEQ   remove entry SEQ
 *   audit_tamper META_DIR sha BUCKET KEY
 *                                      change the recorded SHA-256 of the
 *                                      newest version of KEY (its V rec
 *                                      ends with the 64 hex digits)
 *
 * A rec layout (meta/meta_int.h): format u8 | seq u64 | time i64 |
 * prev 32 | event str (u32 length + bytes) | hash 32. */
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* V/<bucket>\0<key>\0<inv><vid>: the first key under the prefix is the
 * newest version; its record's last byte is the last hex digit of the
 * [optional: content hash] group. */
static int tamper_sha(char **argv)
{
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_iterator_t *it;
    rocksdb_t *db;
    char *err = NULL, prefix[2200], *v;
    size_t bl = strlen(argv[3]), kl = strlen(argv[4]), pl, klen, vl;
    const char *k;
    int rc = 1;

    if (bl > 63 || kl > 1024) return 2;
    memcpy(prefix, "V/", 2);
    memcpy(prefix + 2, argv[3], bl);
    prefix[2 + bl] = '\0';
    memcpy(prefix + 3 + bl, argv[4], kl);
    prefix[3 + bl + kl] = '\0';
    pl = 4 + bl + kl;
    rocksdb_writeoptions_set_sync(wo, 1);
    db = rocksdb_open(o, argv[1], &err);
    if (err) {
        fprintf(stderr, "audit_tamper: open %s: %s\n", argv[1], err);
        free(err);
        goto out;
    }
    it = rocksdb_create_iterator(db, ro);
    rocksdb_iter_seek(it, prefix, pl);
    if (!rocksdb_iter_valid(it) ||
        (k = rocksdb_iter_key(it, &klen), klen < pl) ||
        memcmp(k, prefix, pl) != 0) {
        fprintf(stderr, "audit_tamper: no version of that key\n");
        rocksdb_iter_destroy(it);
        goto out_close;
    }
    {
        const char *cv = rocksdb_iter_value(it, &vl);
        char *key = malloc(klen);
        v = malloc(vl);
        if (key == NULL || v == NULL || vl < 64) {
            free(key);
            free(v);
            rocksdb_iter_destroy(it);
            goto out_close;
        }
        memcpy(key, k, klen);
        memcpy(v, cv, vl);
        rocksdb_iter_destroy(it);
        v[vl - 1] = v[vl - 1] == '0' ? '1' : '0';
        rocksdb_put(db, wo, key, klen, v, vl, &err);
        free(key);
        free(v);
    }
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

    if (argc == 5 && strcmp(argv[2], "sha") == 0) return tamper_sha(argv);
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
