/* cmd_audit.c: `coffer audit report` and `coffer audit clock` — option
 * parsing and wiring only; the report is objlock's (ol_report_*).
 *
 * Both open the catalog read-only (a RocksDB secondary instance), so they
 * work on a stopped data directory and beside a running server; the
 * report opens the disks shared (tmp/ is left alone) and only reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cf.h"
#include "cmd.h"
#include "conf.h"
#include "ec.h"
#include "meta.h"
#include "ol.h"

#define EXIT_VIOLATION 1
#define EXIT_USAGE 2
#define EXIT_ERROR 3

struct audit_opts {
    const char *data, *config, *meta, *bucket, *format, *output;
    int verify_data;
};

static int report_usage(void)
{
    fprintf(stderr,
            "usage: coffer audit report [--data DIR] [--config FILE] "
            "[--meta DIR]\n"
            "                           [--bucket B] [--format json|csv|html]"
            " [--verify-data]\n"
            "                           [--output FILE]\n"
            "       coffer audit clock [--data DIR] [--config FILE] "
            "[--meta DIR]\n"
            "exit status: 0 no violation, 1 violations (missing data, hash "
            "mismatch,\nbroken audit chain), 2 usage, 3 could not run\n");
    return EXIT_USAGE;
}

static int parse(int argc, char **argv, struct audit_opts *o, int report)
{
    int i;
    memset(o, 0, sizeof(*o));
    o->format = "json";
    for (i = 0; i < argc; i++) {
        const char **slot = NULL;
        if (strcmp(argv[i], "--data") == 0)
            slot = &o->data;
        else if (strcmp(argv[i], "--config") == 0)
            slot = &o->config;
        else if (strcmp(argv[i], "--meta") == 0)
            slot = &o->meta;
        else if (report && strcmp(argv[i], "--bucket") == 0)
            slot = &o->bucket;
        else if (report && strcmp(argv[i], "--format") == 0)
            slot = &o->format;
        else if (report && strcmp(argv[i], "--output") == 0)
            slot = &o->output;
        else if (report && strcmp(argv[i], "--verify-data") == 0) {
            o->verify_data = 1;
            continue;
        } else {
            fprintf(stderr, "coffer audit: unknown option '%s'\n", argv[i]);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "coffer audit: %s needs a value\n", argv[i]);
            return -1;
        }
        *slot = argv[++i];
    }
    return 0;
}

/* The configuration serve would use for the same flags (disks, layout,
 * catalog directory). */
static int load_conf(const struct audit_opts *o, struct conf *c)
{
    char err[CONF_ERR_MAX];
    if (conf_init_defaults(c) != CONF_OK) return -1;
    if (o->config &&
        conf_load_file(c, o->config, err, sizeof(err)) != CONF_OK) {
        fprintf(stderr, "coffer: %s\n", err);
        return -1;
    }
    if (o->data && conf_set_str(&c->data_dir, o->data) != CONF_OK) return -1;
    if (o->meta && conf_set_str(&c->meta_dir, o->meta) != CONF_OK) return -1;
    if (conf_finalize(c, err, sizeof(err)) != CONF_OK) {
        fprintf(stderr, "coffer: %s\n", err);
        return -1;
    }
    return 0;
}

int cmd_audit_report(int argc, char **argv)
{
    struct audit_opts o;
    struct conf c;
    struct meta_db *db = NULL;
    struct ec_set *set = NULL;
    struct ol_report r;
    enum ol_report_format fmt;
    enum ol_status ost;
    FILE *out = stdout;
    int64_t clock_ms = 0;
    int rc = EXIT_ERROR;
    char tmp[4200] = "";

    ol_report_init(&r);
    memset(&c, 0, sizeof(c));
    if (parse(argc, argv, &o, 1) != 0) return report_usage();
    if (ol_report_format_parse(o.format, &fmt) != 0) {
        fprintf(stderr, "coffer audit report: --format must be json, csv or "
                        "html\n");
        return EXIT_USAGE;
    }
    if (load_conf(&o, &c) != 0) goto out;
    if (meta_open_readonly(c.meta_dir, &db) != META_OK) {
        fprintf(stderr,
                "coffer audit report: cannot open the catalog in "
                "%s\n",
                c.meta_dir);
        goto out;
    }
    if (meta_clock_get(db, &clock_ms) != META_OK) {
        fprintf(stderr, "coffer audit report: cannot read the compliance "
                        "clock\n");
        goto out;
    }
    r.generated_ms = ol_clock_wall_ms();
    /* Never persisted: no server ever started here, nothing can be locked
     * yet; judge at the system clock and say so. */
    if (clock_ms == 0) {
        fprintf(stderr, "coffer audit report: the compliance clock was "
                        "never persisted; using the system clock\n");
        clock_ms = r.generated_ms;
    }
    r.clock_ms = clock_ms;
    if (o.verify_data) {
        if (cmd_open_disks(&c, 1, 0, &set) != EC_OK) {
            fprintf(stderr, "coffer audit report: cannot open the disks\n");
            goto out;
        }
    }
    ost = ol_report_collect(&r, db, set, o.bucket);
    if (ost != OL_OK) {
        fprintf(stderr, "coffer audit report: %s\n", ol_strerror(ost));
        goto out;
    }
    if (o.output) {
        /* written whole, then renamed: never a half report under the name */
        snprintf(tmp, sizeof(tmp), "%s.tmp", o.output);
        out = fopen(tmp, "w");
        if (out == NULL) {
            perror(tmp);
            goto out;
        }
    }
    ost = ol_report_write(&r, fmt, out);
    if (o.output) {
        if (fclose(out) != 0 && ost == OL_OK) ost = OL_EIO;
        out = stdout;
        if (ost == OL_OK && rename(tmp, o.output) != 0) {
            perror(o.output);
            ost = OL_EIO;
        }
        if (ost != OL_OK) remove(tmp);
    }
    if (ost != OL_OK) {
        fprintf(stderr, "coffer audit report: cannot write the report: %s\n",
                ol_strerror(ost));
        goto out;
    }
    fprintf(stderr,
            "coffer audit report: %llu locked version(s), %llu "
            "violation(s); audit chain %s%s\n",
            (unsigned long long)r.nrows, (unsigned long long)r.violations,
            r.chain.why ? "BROKEN: " : "intact",
            r.chain.why ? r.chain.why : "");
    rc = r.violations ? EXIT_VIOLATION : 0;
out:
    ol_report_cleanup(&r);
    ec_set_free(set);
    meta_close(db);
    conf_cleanup(&c);
    return rc;
}

int cmd_audit_clock(int argc, char **argv)
{
    struct audit_opts o;
    struct conf c;
    struct meta_db *db = NULL;
    int64_t clock_ms = 0, wall, drift, mag;
    char a[CF_ISO8601_LEN], b[CF_ISO8601_LEN];
    int rc = EXIT_ERROR;

    memset(&c, 0, sizeof(c));
    if (parse(argc, argv, &o, 0) != 0) return report_usage();
    if (load_conf(&o, &c) != 0) goto out;
    if (meta_open_readonly(c.meta_dir, &db) != META_OK) {
        fprintf(stderr, "coffer audit clock: cannot open the catalog in %s\n",
                c.meta_dir);
        goto out;
    }
    if (meta_clock_get(db, &clock_ms) != META_OK) {
        fprintf(stderr, "coffer audit clock: cannot read the compliance "
                        "clock\n");
        goto out;
    }
    wall = ol_clock_wall_ms();
    cf_fmt_iso8601_ms(wall, b);
    if (clock_ms == 0) {
        printf("compliance_clock: never persisted (no server has run here)\n"
               "system_clock: %s\n",
               b);
        rc = 0;
        goto out;
    }
    cf_fmt_iso8601_ms(clock_ms, a);
    drift = wall - clock_ms;
    mag = drift < 0 ? -drift : drift;
    printf("compliance_clock: %s (%lld ms; persisted value: a running "
           "server persists it every minute and at shutdown)\n"
           "system_clock: %s (%lld ms)\n"
           "drift_ms: %+lld\n"
           "drift: %s%lld d %02lld:%02lld:%02lld.%03lld (system clock %s "
           "compliance time)%s\n",
           a, (long long)clock_ms, b, (long long)wall, (long long)drift,
           drift < 0 ? "-" : "+", (long long)(mag / 86400000),
           (long long)(mag / 3600000 % 24), (long long)(mag / 60000 % 60),
           (long long)(mag / 1000 % 60), (long long)(mag % 1000),
           drift < 0 ? "behind" : "ahead of",
           mag > OL_CLOCK_DRIFT_WARN_MS ? "; ABOVE the warning threshold: "
                                          "retention follows the compliance "
                                          "clock, not the system clock"
                                        : "");
    rc = 0;
out:
    meta_close(db);
    conf_cleanup(&c);
    return rc;
}
