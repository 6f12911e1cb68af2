/* main.c: the coffer command. Parses the command line, builds the
 * configuration, opens the catalog and the erasure set, and hands them to
 * the gateway. Thin by design: every real behaviour lives in a module. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cf.h"
#include "cmd.h"
#include "conf.h"
#include "ec.h"
#include "gw.h"
#include "heal.h"
#include "iam.h"
#include "meta.h"
#include "ol.h"
#include <openssl/crypto.h>
#include <pthread.h>

#define COFFER_VERSION "0.1.0"
#define ROOT_CRED_FILE "root.credentials"

static struct gw_server *the_server;

static int usage(FILE *out)
{
    fprintf(out,
            "usage: coffer <command> [options]\n"
            "\n"
            "commands:\n"
            "  serve [--config FILE] [--data DIR] [--listen ADDR:PORT]\n"
            "        [--console-listen ADDR:PORT]\n"
            "        [--tls] [--tls-cert FILE --tls-key FILE]\n"
            "        run the S3 gateway (defaults: --data ./coffer-data\n"
            "        --listen 127.0.0.1:9000, plain HTTP). --tls-cert and\n"
            "        --tls-key serve HTTPS with that certificate; --tls\n"
            "        alone generates a self-signed one in DIR/tls/.\n"
            "        SIGHUP reloads it.\n"
            "  audit verify|log [--data DIR]\n"
            "        check the hash chain of the audit log / print it\n"
            "  heal [--data DIR] [--bucket B] [--dry-run] [--rate MIB_S]\n"
            "        verify every stored object and rebuild bad shards\n"
            "  heal --status [--data DIR]\n"
            "        the running server's scrubber and healer status\n"
            "  meta rebuild [--data DIR]\n"
            "        rebuild a lost catalog from the newest checkpoint and\n"
            "        the records in the shard headers\n"
            "  meta checkpoint [--data DIR]\n"
            "        checkpoint a stopped server's catalog onto its disks\n"
            "  pack status|compact [--data DIR] [--min-dead PCT] [--dry-run]\n"
            "        small objects' pack segments: space, and compaction of\n"
            "        those at least PCT (default 50) percent dead (stopped\n"
            "        server; resumable)\n"
            "  audit report [--data DIR] [--bucket B] [--format json|csv|html]\n"
            "        [--verify-data] [--output FILE]\n"
            "        compliance report of every locked version\n"
            "  audit clock [--data DIR]\n"
            "        the compliance clock, the system clock and their drift\n"
            "  user add NAME [--admin] [--json] [--data DIR]\n"
            "  user list [--json] | user rm NAME | user key rotate NAME\n"
            "        catalog users: access keys, secrets (shown once),\n"
            "        admin flag\n"
            "  key rotate --new-key-file F | --new-key-command CMD\n"
            "        [--data DIR] [--config FILE]\n"
            "        re-wrap every SSE-S3 data key under a new master key\n"
            "        (stopped server; resumable)\n"
            "  version\n");
    return out == stdout ? 0 : 2;
}

/* ---- the compliance clock's persistence ---- */

static int64_t clock_load(void *arg)
{
    int64_t ms;
    if (meta_clock_get(arg, &ms) != META_OK) return -1;
    return ms;
}

static int clock_save(int64_t ms, void *arg)
{
    return meta_clock_set(arg, ms) == META_OK ? 0 : -1;
}

static pthread_mutex_t persist_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t persist_cond = PTHREAD_COND_INITIALIZER;
static int persist_stop;

/* Persists the compliance clock every minute, so a crash loses at most a
 * minute of it (which only ever lengthens retention). */
static void *persist_main(void *arg)
{
    pthread_mutex_lock(&persist_lock);
    while (!persist_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 60;
        pthread_cond_timedwait(&persist_cond, &persist_lock, &ts);
        if (ol_clock_persist() != 0)
            cf_log(CF_LOG_ERR, "cannot persist the compliance clock");
        ol_clock_check_drift(0);
    }
    pthread_mutex_unlock(&persist_lock);
    return NULL;
}

static void on_signal(int sig)
{
    if (the_server == NULL) return;
    if (sig == SIGHUP) gw_server_reload_tls(the_server);
    else gw_server_stop(the_server);
}

static int mkdir_p(const char *path)
{
    char buf[4096];
    size_t i, n = strlen(path);

    if (n >= sizeof(buf)) return -1;
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
            buf[i] = c;
        }
    }
    return 0;
}

/* Access keys are 20 upper-case letters and digits, secrets 40 base64-ish
 * characters, as AWS issues them. */
static void random_key(char *out, size_t n, const char *alphabet)
{
    unsigned char r[64];
    size_t i, an = strlen(alphabet);
    cf_random_bytes(r, n);
    for (i = 0; i < n; i++) out[i] = alphabet[r[i] % an];
    out[n] = '\0';
}

/* Root credentials: the environment wins; else the saved file; else new
 * ones are generated, saved with mode 0600 and printed once. */
static int root_credentials(const char *data_dir, char *ak, size_t akcap,
                            char *sk, size_t skcap)
{
    const char *eak = getenv("COFFER_ROOT_ACCESS_KEY");
    const char *esk = getenv("COFFER_ROOT_SECRET_KEY");
    char path[4096], line[512];
    FILE *f;
    int fd;

    if (eak && esk && *eak && *esk) {
        snprintf(ak, akcap, "%s", eak);
        snprintf(sk, skcap, "%s", esk);
        return 0;
    }
    snprintf(path, sizeof(path), "%s/%s", data_dir, ROOT_CRED_FILE);
    f = fopen(path, "r");
    if (f) {
        ak[0] = sk[0] = '\0';
        while (fgets(line, sizeof(line), f)) {
            line[strcspn(line, "\r\n")] = '\0';
            if (strncmp(line, "access_key=", 11) == 0)
                snprintf(ak, akcap, "%s", line + 11);
            else if (strncmp(line, "secret_key=", 11) == 0)
                snprintf(sk, skcap, "%s", line + 11);
        }
        fclose(f);
        if (ak[0] && sk[0]) return 0;
        fprintf(stderr, "coffer: %s: missing access_key or secret_key\n",
                path);
        return -1;
    }
    random_key(ak, 20, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
    random_key(sk, 40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                       "0123456789");
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        fprintf(stderr, "coffer: %s: %s\n", path, strerror(errno));
        return -1;
    }
    dprintf(fd, "access_key=%s\nsecret_key=%s\n", ak, sk);
    if (fsync(fd) != 0 || close(fd) != 0) {
        fprintf(stderr, "coffer: %s: %s\n", path, strerror(errno));
        return -1;
    }
    printf("\nRoot credentials (shown once; saved in %s, mode 0600):\n"
           "  access key: %s\n  secret key: %s\n\n",
           path, ak, sk);
    return 0;
}

static enum cf_log_level parse_level(const char *s)
{
    if (s == NULL) return CF_LOG_NOTICE;
    if (strcmp(s, "err") == 0) return CF_LOG_ERR;
    if (strcmp(s, "warn") == 0) return CF_LOG_WARN;
    if (strcmp(s, "info") == 0) return CF_LOG_INFO;
    if (strcmp(s, "debug") == 0) return CF_LOG_DEBUG;
    return CF_LOG_NOTICE;
}

static void on_degraded(const char *data_id, uint64_t size, void *arg)
{
    heal_bg_report(arg, data_id, size);
}

static int cmd_serve(int argc, char **argv)
{
    struct conf c;
    char err[CONF_ERR_MAX];
    const char *config = NULL, *data = NULL, *listen = NULL, *console = NULL;
    const char *tls_cert = NULL, *tls_key = NULL;
    char tls_path[4096], tls_fp[128];
    int tls_flag = 0, tls_self = 0;
    char ak[512], sk[512];
    struct meta_db *db = NULL;
    struct ec_set *set = NULL;
    struct iam *iam = NULL;
    unsigned char master[CF_KEY_LEN];
    enum iam_status ist;
    struct heal_bg *bg = NULL;
    struct ol_exporter *exporter = NULL;
    struct ol_export_config xc;
    enum ec_status est;
    enum meta_status mst;
    int i, rc = 1;

    for (i = 2; i < argc; i++) {
        const char **slot = NULL;
        if (strcmp(argv[i], "--config") == 0) slot = &config;
        else if (strcmp(argv[i], "--data") == 0) slot = &data;
        else if (strcmp(argv[i], "--listen") == 0) slot = &listen;
        else if (strcmp(argv[i], "--console-listen") == 0) slot = &console;
        else if (strcmp(argv[i], "--tls-cert") == 0) slot = &tls_cert;
        else if (strcmp(argv[i], "--tls-key") == 0) slot = &tls_key;
        else if (strcmp(argv[i], "--tls") == 0) {
            tls_flag = 1; /* takes no value */
            continue;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(stdout);
        else {
            fprintf(stderr, "coffer serve: unknown option '%s'\n", argv[i]);
            return usage(stderr);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "coffer serve: %s needs a value\n", argv[i]);
            return 2;
        }
        *slot = argv[++i];
    }

    if (conf_init_defaults(&c) != CONF_OK) return 1;
    if (config && conf_load_file(&c, config, err, sizeof(err)) != CONF_OK) {
        fprintf(stderr, "coffer: %s\n", err);
        goto out;
    }
    if ((data && conf_set_str(&c.data_dir, data) != CONF_OK) ||
        (listen && conf_set_str(&c.listen, listen) != CONF_OK) ||
        (console && conf_set_str(&c.console_listen, console) != CONF_OK) ||
        (tls_cert && conf_set_str(&c.tls_cert, tls_cert) != CONF_OK) ||
        (tls_key && conf_set_str(&c.tls_key, tls_key) != CONF_OK))
        goto out;
    if (tls_flag) c.tls_enabled = 1;
    if (conf_finalize(&c, err, sizeof(err)) != CONF_OK) {
        fprintf(stderr, "coffer: %s\n", err);
        goto out;
    }
    cf_log_set_level(parse_level(c.log_level));
    if (mkdir_p(c.data_dir) != 0) {
        fprintf(stderr, "coffer: cannot create %s: %s\n", c.data_dir,
                strerror(errno));
        goto out;
    }
    if (root_credentials(c.data_dir, ak, sizeof(ak), sk, sizeof(sk)) != 0)
        goto out;

    /* The catalog first: its lock makes this the only server on these
     * disks before ec_set_open() cleans their tmp/ directories. */
    mst = meta_open(c.meta_dir, &db);
    if (mst != META_OK) {
        fprintf(stderr, "coffer: cannot open the catalog in %s: %s\n",
                c.meta_dir, meta_strerror(mst));
        goto out;
    }

    /* Users: root and the configuration file's (built-in), then the
     * catalog's, whose secrets are wrapped under the master key. */
    if (gw_master_key_load(&c, 1, master) != 0) goto out;
    ist = iam_open(db, master, &iam);
    if (ist != IAM_OK) {
        fprintf(stderr, "coffer: cannot load the users: %s\n",
                iam_strerror(ist));
        goto out;
    }
    if (iam_add_builtin(iam, ak, sk, 1) != IAM_OK) {
        fprintf(stderr, "coffer: the root access key is taken by a catalog "
                "user\n");
        goto out;
    }
    for (i = 0; i < c.nusers; i++) {
        if (iam_add_builtin(iam, c.users[i].access_key, c.users[i].secret_key,
                            c.users[i].admin) != IAM_OK) {
            fprintf(stderr, "coffer: %s: user %s clashes with the root "
                    "access key or a catalog user\n",
                    c.path ? c.path : "config", c.users[i].access_key);
            goto out;
        }
    }
    est = cmd_open_disks(&c, 0, c.pack_threshold, &set);
    if (est != EC_OK) {
        fprintf(stderr, "coffer: cannot open the disks: %s\n",
                ec_strerror(est));
        goto out;
    }
    if (ol_clock_start(clock_load, clock_save, db) != 0) {
        fprintf(stderr, "coffer: cannot start the compliance clock\n");
        goto out;
    }
    ol_clock_check_drift(1);
    xc.bucket = c.audit_export_bucket;
    xc.interval_ms = (int64_t)c.audit_export_interval_s * 1000;
    xc.retain_years = (uint32_t)c.audit_export_retain_years;
    xc.owner = ak;
    if (ol_export_start(db, set, &xc, &exporter) != OL_OK) {
        fprintf(stderr, "coffer: cannot start the audit export\n");
        goto out;
    }
    if (gw_server_new(&c, db, set, iam, master, &the_server) != GW_OK)
        goto out;
    OPENSSL_cleanse(master, sizeof(master));

    {
        /* healer, scrubber, checkpointer, orphan cleanup */
        struct heal_bg_config hc;
        char status[4200];
        snprintf(status, sizeof(status), "%s/heal-status.json", c.data_dir);
        memset(&hc, 0, sizeof(hc));
        hc.status_path = status;
        hc.scrub_rate_mib_s = (double)c.scrub_rate / 1048576.0;
        hc.scrub_interval_ms = (int64_t)c.scrub_interval_s * 1000;
        hc.checkpoint_interval_ms = (int64_t)c.checkpoint_interval_s * 1000;
        hc.checkpoint_keep = c.checkpoint_keep;
        hc.disks = (const char *const *)c.disks;
        hc.ndisks = c.ndisks;
        if (heal_bg_start(db, set, &hc, &bg) != HEAL_OK) goto out;
        gw_server_on_degraded(the_server, on_degraded, bg);
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* SIGHUP reloads the certificate; without TLS it keeps its default
     * action, as before TLS existed. */
    if (c.tls_enabled) signal(SIGHUP, on_signal);
    printf("coffer %s serving S3 on %s://%s\n"
           "  data:    %s (%d disks, %d data + %d parity)\n"
           "  catalog: %s\n",
           COFFER_VERSION, c.tls_enabled ? "https" : "http", c.listen,
           c.data_dir, c.ndisks, c.ec_data, c.ec_parity, c.meta_dir);
    if (strcmp(c.console_listen, "off") != 0)
        printf("  console: %s://%s (admin API /coffer/admin/v1/)\n",
               c.tls_enabled ? "https" : "http", c.console_listen);
    if (gw_server_tls_info(the_server, tls_path, sizeof(tls_path), &tls_self,
                           tls_fp, sizeof(tls_fp)))
        printf("  tls:     %s%s\n"
               "  tls certificate SHA-256 fingerprint: %s\n",
               tls_path, tls_self ? " (self-signed; give clients this file "
                                    "as their CA bundle)" : "",
               tls_fp);
    fflush(stdout);
    cf_log(CF_LOG_NOTICE, "listening on %s with %d loop threads, %d io "
           "threads", c.listen, c.max_threads, c.io_threads);
    {
        pthread_t persister;
        int have = pthread_create(&persister, NULL, persist_main, NULL) == 0;
        gw_server_run(the_server);
        pthread_mutex_lock(&persist_lock);
        persist_stop = 1;
        pthread_cond_signal(&persist_cond);
        pthread_mutex_unlock(&persist_lock);
        if (have) pthread_join(persister, NULL);
    }
    cf_log(CF_LOG_NOTICE, "stopping");
    rc = 0;
out:
    if (c.tls_enabled) signal(SIGHUP, SIG_IGN); /* the server is going */
    heal_bg_stop(bg);
    gw_server_free(the_server);
    the_server = NULL;
    ol_export_stop(exporter); /* exports what is left, then joins */
    meta_close(db);
    ec_set_free(set);
    iam_free(iam);
    OPENSSL_cleanse(master, sizeof(master));
    OPENSSL_cleanse(sk, sizeof(sk));
    conf_cleanup(&c);
    return rc;
}

/* ---- coffer audit verify ---- */

struct verify_ctx {
    uint64_t n;            /* entries seen */
    uint64_t bad_seq;      /* first broken entry, 0 if none */
    const char *why;
    unsigned char prev[32];
    int print;
};

static int verify_one(const struct meta_audit_entry *e, void *arg)
{
    struct verify_ctx *v = arg;
    unsigned char h[32];

    v->n++;
    if (e->seq != v->n) v->why = "sequence gap (an entry was removed)";
    else if (memcmp(e->prev, v->prev, 32) != 0)
        v->why = "previous-hash mismatch (an entry was removed or altered)";
    else {
        meta_audit_hash(e, h);
        if (memcmp(h, e->hash, 32) != 0) v->why = "entry altered";
    }
    if (v->why) {
        v->bad_seq = e->seq;
        return 1;
    }
    if (v->print) {
        char t[CF_ISO8601_LEN];
        cf_fmt_iso8601_ms(e->time_ms, t);
        printf("%llu %s %s\n", (unsigned long long)e->seq, t, e->event);
    }
    memcpy(v->prev, e->hash, 32);
    return 0;
}

static int cmd_audit(int argc, char **argv)
{
    const char *data = "./coffer-data", *meta_dir = NULL;
    char path[4096], hex[65];
    struct meta_db *db = NULL;
    struct verify_ctx v;
    enum meta_status st;
    int i, list = 0;

    if (argc >= 3 && strcmp(argv[2], "report") == 0)
        return cmd_audit_report(argc - 3, argv + 3);
    if (argc >= 3 && strcmp(argv[2], "clock") == 0)
        return cmd_audit_clock(argc - 3, argv + 3);
    if (argc < 3 || (strcmp(argv[2], "verify") != 0 &&
                     strcmp(argv[2], "log") != 0)) {
        fprintf(stderr, "usage: coffer audit verify|log|report|clock "
                "[--data DIR] [--meta DIR] ...\n");
        return 2;
    }
    list = strcmp(argv[2], "log") == 0;
    for (i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--data") == 0) data = argv[i + 1];
        else if (strcmp(argv[i], "--meta") == 0) meta_dir = argv[i + 1];
        else {
            fprintf(stderr, "coffer audit: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (meta_dir == NULL) {
        snprintf(path, sizeof(path), "%s/meta", data);
        meta_dir = path;
    }
    /* Read-only: works beside a running server. */
    if (meta_open_readonly(meta_dir, &db) != META_OK) {
        fprintf(stderr, "coffer audit: cannot open the catalog in %s\n",
                meta_dir);
        return 1;
    }
    memset(&v, 0, sizeof(v));
    v.print = list;
    st = meta_audit_foreach(db, verify_one, &v);
    meta_close(db);
    if (st != META_OK) {
        fprintf(stderr, "coffer audit: the audit log is unreadable after "
                "entry %llu: %s\n", (unsigned long long)v.n,
                meta_strerror(st));
        return 1;
    }
    if (v.why) {
        printf("audit log BROKEN at entry %llu: %s\n",
               (unsigned long long)v.bad_seq, v.why);
        return 1;
    }
    cf_hex_encode(v.prev, 32, hex);
    if (!list)
        printf("audit log intact: %llu entries, head %s\n",
               (unsigned long long)v.n, v.n ? hex : "-");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage(stderr);
    if (strcmp(argv[1], "audit") == 0) return cmd_audit(argc, argv);
    if (strcmp(argv[1], "serve") == 0) return cmd_serve(argc, argv);
    if (strcmp(argv[1], "heal") == 0) return cmd_heal(argc, argv);
    if (strcmp(argv[1], "meta") == 0) return cmd_meta(argc, argv);
    if (strcmp(argv[1], "user") == 0) return cmd_user(argc, argv);
    if (strcmp(argv[1], "key") == 0) return cmd_key(argc, argv);
    if (strcmp(argv[1], "pack") == 0) return cmd_pack(argc, argv);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("coffer %s\n", COFFER_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0)
        return usage(stdout);
    fprintf(stderr, "coffer: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
