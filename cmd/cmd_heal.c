/* cmd_heal.c: `coffer heal` and `coffer meta rebuild|checkpoint`: command
 * lines around heal/. They work on a stopped data directory and (heal,
 * heal --status) beside a running server: the catalog is opened as a
 * read-only secondary and the disks without touching tmp/. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cf.h"
#include "cmd.h"
#include "conf.h"
#include "ec.h"
#include "heal.h"
#include "meta.h"

int cmd_load_conf(struct conf *c, const char *config, const char *data)
{
    char err[CONF_ERR_MAX];
    if (conf_init_defaults(c) != CONF_OK) return 1;
    if (config && conf_load_file(c, config, err, sizeof(err)) != CONF_OK) {
        fprintf(stderr, "coffer: %s\n", err);
        return 1;
    }
    if (data && conf_set_str(&c->data_dir, data) != CONF_OK) return 1;
    if (conf_finalize(c, err, sizeof(err)) != CONF_OK) {
        fprintf(stderr, "coffer: %s\n", err);
        return 1;
    }
    return 0;
}

enum ec_status cmd_open_disks(const struct conf *c, int shared,
                              size_t pack_threshold, struct ec_set **out)
{
    struct ec_config ecc;
    memset(&ecc, 0, sizeof(ecc));
    ecc.disks = (const char *const *)c->disks;
    ecc.ndisks = c->ndisks;
    ecc.data = c->ec_data;
    ecc.parity = c->ec_parity;
    ecc.stripe_size = c->stripe_size;
    ecc.shared = shared;
    ecc.pack_threshold = pack_threshold; /* ignored when shared */
    return ec_set_open(&ecc, out);
}

static void human(uint64_t b, char *out, size_t cap)
{
    if (b >= (1ull << 30)) snprintf(out, cap, "%.2f GiB", (double)b / (1 << 30));
    else if (b >= (1ull << 20)) snprintf(out, cap, "%.2f MiB", (double)b / (1 << 20));
    else if (b >= 1024) snprintf(out, cap, "%.1f KiB", (double)b / 1024);
    else snprintf(out, cap, "%llu B", (unsigned long long)b);
}

struct bar {
    int tty;
    int64_t last_ms;
};

static void progress(const struct heal_stats *st, void *arg)
{
    struct bar *b = arg;
    int64_t now = cf_monotonic_ms();
    char r[32];
    double f;
    int i, w;
    if (now - b->last_ms < (b->tty ? 100 : 2000) &&
        st->objects_checked != st->objects_total)
        return;
    b->last_ms = now;
    f = st->objects_total ? (double)st->objects_checked /
                                (double)st->objects_total
                          : 1.0;
    human(st->bytes_read, r, sizeof(r));
    w = (int)(f * 30);
    fputs(b->tty ? "\r[" : "[", stderr);
    for (i = 0; i < 30; i++) fputc(i < w ? '#' : '.', stderr);
    fprintf(stderr, "] %3.0f%% %llu/%llu objects, %s read, %llu shards "
            "rebuilt%s", f * 100, (unsigned long long)st->objects_checked,
            (unsigned long long)st->objects_total, r,
            (unsigned long long)st->shards_rebuilt, b->tty ? "" : "\n");
    fflush(stderr);
}

static int print_status(const char *data_dir)
{
    char path[4200];
    json_t *j;
    json_error_t e;
    char *s;
    snprintf(path, sizeof(path), "%s/heal-status.json", data_dir);
    j = json_load_file(path, 0, &e);
    if (j == NULL) {
        if (access(path, F_OK) != 0) {
            printf("no scrub or heal status yet in %s (it is written by "
                   "coffer serve)\n", data_dir);
            return 0;
        }
        fprintf(stderr, "coffer heal: %s: %s\n", path, e.text);
        return 1;
    }
    s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    printf("%s\n", s ? s : "{}");
    free(s);
    json_decref(j);
    return 0;
}

int cmd_heal(int argc, char **argv)
{
    const char *config = NULL, *data = NULL, *bucket = NULL;
    int i, dry = 0, status = 0, rc = 1;
    double rate = 0;
    struct conf c;
    struct meta_db *db = NULL;
    struct ec_set *set = NULL;
    struct heal_opts o;
    struct heal_stats st;
    struct bar bar = { isatty(2), 0 };
    enum heal_status hs;
    char rd[32], wr[32];

    for (i = 2; i < argc; i++) {
        const char **slot = NULL;
        if (strcmp(argv[i], "--dry-run") == 0) { dry = 1; continue; }
        if (strcmp(argv[i], "--status") == 0) { status = 1; continue; }
        if (strcmp(argv[i], "--config") == 0) slot = &config;
        else if (strcmp(argv[i], "--data") == 0) slot = &data;
        else if (strcmp(argv[i], "--bucket") == 0) slot = &bucket;
        else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc) {
            char *end;
            rate = strtod(argv[++i], &end);
            if (*end != '\0' || rate < 0) {
                fprintf(stderr, "coffer heal: --rate takes MiB/s\n");
                return 2;
            }
            continue;
        } else {
            fprintf(stderr, "usage: coffer heal [--data DIR] [--config F] "
                    "[--bucket B] [--dry-run] [--rate MIB_S] | --status\n");
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "coffer heal: %s needs a value\n", argv[i]);
            return 2;
        }
        *slot = argv[++i];
    }
    if (cmd_load_conf(&c, config, data) != 0) return 1;
    if (status) {
        rc = print_status(c.data_dir);
        conf_cleanup(&c);
        return rc;
    }
    if (meta_open_readonly(c.meta_dir, &db) != META_OK) {
        fprintf(stderr, "coffer heal: cannot open the catalog in %s\n",
                c.meta_dir);
        goto out;
    }
    if (cmd_open_disks(&c, 1, 0, &set) != EC_OK) {
        fprintf(stderr, "coffer heal: cannot open the disks of %s\n",
                c.data_dir);
        goto out;
    }
    memset(&o, 0, sizeof(o));
    o.bucket = bucket;
    o.dry_run = dry;
    o.rate_mib_s = rate;
    o.progress = progress;
    o.arg = &bar;
    hs = heal_all(db, set, &o, &st);
    if (bar.tty) fputc('\n', stderr);
    human(st.bytes_read, rd, sizeof(rd));
    human(st.bytes_written, wr, sizeof(wr));
    printf("heal%s: %llu objects checked, %llu damaged, %llu bad shards, "
           "%llu shards rebuilt, %s read, %s written, %llu unrecoverable, "
           "%llu failed\n", dry ? " (dry run)" : "",
           (unsigned long long)st.objects_checked,
           (unsigned long long)st.objects_damaged,
           (unsigned long long)st.shards_bad,
           (unsigned long long)st.shards_rebuilt, rd, wr,
           (unsigned long long)st.unrecoverable,
           (unsigned long long)st.failed);
    if (hs == HEAL_EIO) {
        fprintf(stderr, "coffer heal: %s\n", heal_strerror(hs));
        goto out;
    }
    /* a dry run that found damage says so through its status too */
    rc = hs != HEAL_OK || (dry && st.objects_damaged) ? 1 : 0;
out:
    ec_set_free(set);
    meta_close(db);
    conf_cleanup(&c);
    return rc;
}

int cmd_meta(int argc, char **argv)
{
    const char *config = NULL, *data = NULL;
    struct conf c;
    struct ec_set *set = NULL;
    struct heal_rebuild_stats rs;
    enum heal_status hs;
    int i, rc = 1, rebuild;

    if (argc < 3 || (strcmp(argv[2], "rebuild") != 0 &&
                     strcmp(argv[2], "checkpoint") != 0)) {
        fprintf(stderr, "usage: coffer meta rebuild|checkpoint [--data DIR] "
                "[--config F]\n");
        return 2;
    }
    rebuild = strcmp(argv[2], "rebuild") == 0;
    for (i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--data") == 0) data = argv[i + 1];
        else if (strcmp(argv[i], "--config") == 0) config = argv[i + 1];
        else {
            fprintf(stderr, "coffer meta: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (i < argc) {
        fprintf(stderr, "coffer meta: %s needs a value\n", argv[i]);
        return 2;
    }
    if (cmd_load_conf(&c, config, data) != 0) return 1;
    if (!rebuild) {
        /* an offline checkpoint (the server takes its own) */
        struct meta_db *db = NULL;
        if (meta_open(c.meta_dir, &db) != META_OK) {
            fprintf(stderr, "coffer meta: cannot open the catalog in %s (is "
                    "the server running? it checkpoints by itself)\n",
                    c.meta_dir);
            goto out;
        }
        hs = heal_checkpoint(db, (const char *const *)c.disks, c.ndisks,
                             c.checkpoint_keep);
        meta_close(db);
        if (hs == HEAL_OK) {
            printf("checkpoint written to %d disks\n", c.ndisks);
            rc = 0;
        }
        goto out;
    }
    if (cmd_open_disks(&c, 1, 0, &set) != EC_OK) {
        fprintf(stderr, "coffer meta: cannot open the disks of %s\n",
                c.data_dir);
        goto out;
    }
    hs = heal_rebuild(c.meta_dir, set, (const char *const *)c.disks,
                      c.ndisks, cf_now_ms(), &rs);
    if (hs == HEAL_EINVAL) {
        fprintf(stderr, "coffer meta rebuild: %s exists; move it away "
                "first\n", c.meta_dir);
        goto out;
    }
    printf("catalog rebuilt in %s from %s\n"
           "  %llu versions from the checkpoint, %llu restored from shard "
           "records\n"
           "  %llu dropped (deleted after the checkpoint), %llu locked with "
           "data missing (kept)\n"
           "  %llu data objects without a record (upload parts, or written before\n"
           "  records existed): removed as orphans when the server starts\n",
           c.meta_dir, rs.checkpoint[0] ? rs.checkpoint : "shard records only",
           (unsigned long long)rs.from_checkpoint,
           (unsigned long long)rs.restored, (unsigned long long)rs.dropped,
           (unsigned long long)rs.kept_missing,
           (unsigned long long)rs.no_record);
    rc = hs == HEAL_OK ? 0 : 1;
    if (hs != HEAL_OK)
        fprintf(stderr, "coffer meta rebuild: %s\n", heal_strerror(hs));
out:
    ec_set_free(set);
    conf_cleanup(&c);
    return rc;
}

/* `coffer pack status|compact`: on a stopped data directory (the catalog
 * is opened for writing, which a running server's lock refuses): the
 * compaction switches catalog records and appends to new segments. */
int cmd_pack(int argc, char **argv)
{
    const char *config = NULL, *data = NULL;
    struct conf c;
    struct ec_set *set = NULL;
    struct meta_db *db = NULL;
    struct heal_pack_stats ps;
    enum heal_status hs;
    int i, rc = 1, dry = 0, pct = 50, compact;
    char b1[32], b2[32], b3[32];

    if (argc < 3 || (strcmp(argv[2], "status") != 0 &&
                     strcmp(argv[2], "compact") != 0)) {
        fprintf(stderr, "usage: coffer pack status|compact [--data DIR] "
                "[--config F] [--min-dead PCT] [--dry-run]\n");
        return 2;
    }
    compact = strcmp(argv[2], "compact") == 0;
    for (i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0) {
            dry = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "coffer pack: %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--data") == 0) data = argv[++i];
        else if (strcmp(argv[i], "--config") == 0) config = argv[++i];
        else if (strcmp(argv[i], "--min-dead") == 0) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0 || v > 100) {
                fprintf(stderr, "coffer pack: --min-dead takes 0..100\n");
                return 2;
            }
            pct = (int)v;
        } else {
            fprintf(stderr, "coffer pack: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (cmd_load_conf(&c, config, data) != 0) return 1;
    if (meta_open(c.meta_dir, &db) != META_OK) {
        fprintf(stderr, "coffer pack: cannot open the catalog in %s (is the "
                "server running? stop it first)\n", c.meta_dir);
        goto out;
    }
    /* the catalog's lock is ours: no server writes; copies of packed
     * entries (at most one stripe) must pack again */
    if (cmd_open_disks(&c, 0, c.stripe_size, &set) != EC_OK) {
        fprintf(stderr, "coffer pack: cannot open the disks of %s\n",
                c.data_dir);
        goto out;
    }
    hs = heal_pack_compact(db, set, pct, !compact || dry, &ps);
    human(ps.bytes, b1, sizeof(b1));
    human(ps.live_bytes, b2, sizeof(b2));
    human(ps.reclaimable, b3, sizeof(b3));
    printf("%llu pack segments, %s, %s live; %llu at least %d%% dead "
           "(%s reclaimable)\n",
           (unsigned long long)ps.segments, b1, b2,
           (unsigned long long)ps.candidates, pct, b3);
    if (compact && !dry) {
        human(ps.moved_bytes, b1, sizeof(b1));
        human(ps.freed_bytes, b2, sizeof(b2));
        printf("compacted %llu segments: %llu entries (%s) moved, %s "
               "freed, %llu kept for upload parts, %llu failed\n",
               (unsigned long long)ps.compacted,
               (unsigned long long)ps.moved, b1, b2,
               (unsigned long long)ps.skipped,
               (unsigned long long)ps.failed);
    }
    rc = hs == HEAL_OK ? 0 : 1;
    if (hs != HEAL_OK)
        fprintf(stderr, "coffer pack: %s\n", heal_strerror(hs));
out:
    ec_set_free(set);
    meta_close(db);
    conf_cleanup(&c);
    return rc;
}
