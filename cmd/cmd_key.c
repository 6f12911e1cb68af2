/* cmd_key.c: `coffer key rotate`: re-wraps every SSE-S3 data key under a
 * new master key (gw_master_key_rotate) on a stopped data directory, then
 * checkpoints the catalog so a later `coffer meta rebuild` starts from
 * records under the new key. The data is never read or rewritten. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cf.h"
#include "cmd.h"
#include "conf.h"
#include "gw.h"
#include "heal.h"
#include "iam.h"
#include "meta.h"

static int key_usage(void)
{
    fprintf(stderr, "usage: coffer key rotate (--new-key-file F | "
            "--new-key-command CMD) [--data DIR] [--config FILE]\n");
    return 2;
}

/* 1 if path (which may not exist yet) lies inside one of the disk
 * directories: whoever walks off with the disks must not find the key. */
static int inside_disk(const struct conf *c, const char *path)
{
    char copy[PATH_MAX], dir[PATH_MAX], disk[PATH_MAX];
    size_t dl;
    int i;

    if (strlen(path) >= sizeof(copy)) return 0;
    memcpy(copy, path, strlen(path) + 1);
    if (realpath(dirname(copy), dir) == NULL) return 0;
    for (i = 0; i < c->ndisks; i++) {
        if (realpath(c->disks[i], disk) == NULL) continue;
        dl = strlen(disk);
        if (strncmp(dir, disk, dl) == 0 && (dir[dl] == '/' || dir[dl] == 0))
            return 1;
    }
    return 0;
}

int cmd_key(int argc, char **argv)
{
    const char *config = NULL, *data = NULL, *nfile = NULL, *ncmd = NULL;
    unsigned char old_key[32], new_key[32];
    struct gw_rotate_stats rs;
    struct meta_db *db = NULL;
    struct stat st;
    struct conf c;
    enum gw_status gs;
    int i, rc = 1;

    if (argc < 3 || strcmp(argv[2], "rotate") != 0) return key_usage();
    for (i = 3; i < argc; i++) {
        const char **slot;
        if (strcmp(argv[i], "--data") == 0) slot = &data;
        else if (strcmp(argv[i], "--config") == 0) slot = &config;
        else if (strcmp(argv[i], "--new-key-file") == 0) slot = &nfile;
        else if (strcmp(argv[i], "--new-key-command") == 0) slot = &ncmd;
        else {
            fprintf(stderr, "coffer key: unknown option '%s'\n", argv[i]);
            return key_usage();
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "coffer key: %s needs a value\n", argv[i]);
            return 2;
        }
        *slot = argv[++i];
    }
    if ((nfile == NULL) == (ncmd == NULL)) {
        fprintf(stderr, "coffer key rotate: give one of --new-key-file and "
                "--new-key-command\n");
        return 2;
    }
    memset(&c, 0, sizeof(c));
    if (cmd_load_conf(&c, config, data) != 0) return 1;
    if (nfile && inside_disk(&c, nfile)) {
        fprintf(stderr, "coffer key rotate: %s is inside a disk directory; "
                "keep the master key apart from the disks\n", nfile);
        goto out;
    }
    if (stat(c.meta_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "coffer key rotate: no catalog in %s\n", c.meta_dir);
        goto out;
    }
    /* First the catalog (RocksDB admits one writer: a running server holds
     * it), so a refusal leaves nothing behind, not even a new key file. */
    if (meta_open(c.meta_dir, &db) != META_OK) {
        fprintf(stderr, "coffer key rotate: cannot open the catalog in %s: "
                "is `coffer serve` running on it? stop it first (the "
                "rotation needs the catalog to itself)\n", c.meta_dir);
        goto out;
    }
    /* the current key, from the sources the server uses, never created */
    if (gw_master_key_load(&c, 0, old_key) != 0) {
        fprintf(stderr, "coffer key rotate: cannot load the current master "
                "key (see above)\n");
        goto out_close;
    }
    if ((nfile && gw_master_key_from_file(nfile, 1, new_key) != 0) ||
        (ncmd && gw_master_key_from_command(ncmd, GW_KMS_TIMEOUT_MS,
                                            new_key) != 0)) {
        fprintf(stderr, "coffer key rotate: cannot load the new master key "
                "(see above)\n");
        goto out_close;
    }
    {
        /* Catalog users' secrets first (iam/): each record is re-wrapped
         * in its own synced write and one already under the new key is
         * skipped, so a rerun finishes an interrupted rotation. */
        size_t uw = 0, uc = 0;
        enum iam_status is = iam_rewrap(db, old_key, new_key, &uw, &uc);
        printf("users: %zu secrets re-wrapped, %zu already under the new "
               "key\n", uw, uc);
        if (is != IAM_OK) {
            fprintf(stderr, "coffer key rotate: user secrets: %s; not "
                    "finished (run the same command again)\n",
                    iam_strerror(is));
            goto out_close;
        }
    }
    gs = gw_master_key_rotate(db, old_key, new_key, &rs);
    printf("%s from master key %016llx to %016llx:\n"
           "  %llu versions re-wrapped, %llu already under the new key\n"
           "  %llu uploads in progress re-wrapped, %llu already under the new "
           "key\n",
           rs.resumed ? "resumed the rotation" : "key rotation",
           (unsigned long long)rs.old_id, (unsigned long long)rs.new_id,
           (unsigned long long)rs.versions_rewrapped,
           (unsigned long long)rs.versions_current,
           (unsigned long long)rs.uploads_rewrapped,
           (unsigned long long)rs.uploads_current);
    if (gs != GW_OK) {
        if (rs.failed)
            printf("  %llu records unwrap with neither key (named above)\n",
                   (unsigned long long)rs.failed);
        fprintf(stderr, "coffer key rotate: not finished; the server will "
                "not start until it is (run the same command again)\n");
        goto out_close;
    }
    /* a checkpoint under the new key, for `coffer meta rebuild` */
    if (c.checkpoint_interval_s > 0 &&
        heal_checkpoint(db, (const char *const *)c.disks, c.ndisks,
                        c.checkpoint_keep) != HEAL_OK)
        fprintf(stderr, "coffer key rotate: warning: the catalog checkpoint "
                "failed; the server takes one within "
                "heal.checkpoint_interval\n");
    printf("done: the catalog now opens only with key %016llx. Start the "
           "server with it (encryption.master_key_file, "
           "encryption.kms_command or COFFER_MASTER_KEY); keep the old key "
           "secret, or destroy it.\n", (unsigned long long)rs.new_id);
    rc = 0;
out_close:
    OPENSSL_cleanse(old_key, sizeof(old_key));
    OPENSSL_cleanse(new_key, sizeof(new_key));
    meta_close(db);
out:
    conf_cleanup(&c);
    return rc;
}
