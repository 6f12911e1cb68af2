/* gw_sse_key.c: the SSE-S3 master key: where it comes from (environment,
 * an external KMS command, a key file), its id, the catalog's record of
 * which key it is, and `coffer key rotate`, which re-wraps every data key
 * under a new master key without touching the data.
 *
 * Invariants:
 * - K/sse-master holds the id of the master key every SSE-S3 record of
 *   the catalog is wrapped by (0: never recorded, a catalog older than
 *   the record). The server refuses to start with another key, so it
 *   never writes data keys under a second key beside the first.
 * - K/sse-rotate-to is non-zero exactly while a rotation to that key is
 *   unfinished. Every record then unwraps with the old or the new key
 *   (each record names its key by id), the server refuses to start, and
 *   `coffer key rotate` with the same two keys resumes. The old key is
 *   retired (K/sse-master := new) only once no record needs it.
 * - A record is re-wrapped in one synced write: after a crash it is
 *   either wholly under the old key or wholly under the new one.
 *
 * Threads: the loaders run at start, before any loop; the rotation runs
 * in `coffer key rotate` on a stopped data directory. Key bytes are wiped
 * (OPENSSL_cleanse) wherever a copy ends. */
#include "gw_sse.h"
#include "gw.h"
#include "cf.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define KEY_ID_LABEL "coffer-master-key-id-1"
#define CTR_MASTER "sse-master"
#define CTR_ROTATE "sse-rotate-to"
#define KMS_OUT_MAX 256 /* bytes read from a KMS command, at most */
#define KMS_ARGS_MAX 32

/* ---- sources ---- */

int gw_master_key_from_file(const char *path, int create,
                            unsigned char out[GW_SSE_KEY])
{
    char e[128];
    struct stat st;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0 && errno == ENOENT && create) {
        /* first start: 32 random bytes, readable by the owner only */
        unsigned char k[GW_SSE_KEY];
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            cf_log(CF_LOG_ERR, "sse: cannot create the master key %s: %s",
                   path, cf_strerror(errno, e, sizeof(e)));
            return -1;
        }
        cf_random_bytes(k, sizeof(k));
        if (write(fd, k, sizeof(k)) != (ssize_t)sizeof(k) ||
            fsync(fd) != 0) {
            cf_log(CF_LOG_ERR, "sse: cannot write the master key %s: %s",
                   path, cf_strerror(errno, e, sizeof(e)));
            OPENSSL_cleanse(k, sizeof(k));
            close(fd);
            unlink(path);
            return -1;
        }
        if (close(fd) != 0) {
            cf_log(CF_LOG_ERR, "sse: cannot write the master key %s: %s",
                   path, cf_strerror(errno, e, sizeof(e)));
            OPENSSL_cleanse(k, sizeof(k));
            unlink(path);
            return -1;
        }
        memcpy(out, k, GW_SSE_KEY);
        OPENSSL_cleanse(k, sizeof(k));
        cf_log(CF_LOG_NOTICE, "sse: created the master key %s (keep a copy "
               "apart from the disks: encrypted objects are unreadable "
               "without it)", path);
        return 0;
    }
    if (fd < 0) {
        cf_log(CF_LOG_ERR, "sse: cannot open the master key %s: %s", path,
               cf_strerror(errno, e, sizeof(e)));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cf_log(CF_LOG_ERR, "sse: master key %s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_mode & 077) {
        cf_log(CF_LOG_ERR, "sse: master key %s: mode %03o lets others read "
               "it; chmod 600 it", path, (unsigned)(st.st_mode & 0777));
        close(fd);
        return -1;
    }
    n = read(fd, out, GW_SSE_KEY);
    if (n != GW_SSE_KEY || st.st_size != GW_SSE_KEY) {
        cf_log(CF_LOG_ERR, "sse: master key %s: must hold exactly 32 bytes",
               path);
        OPENSSL_cleanse(out, GW_SSE_KEY);
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* Splits cmd at spaces and tabs into argv (no quoting, no shell); the
 * words point into buf. Returns the word count, or -1. */
static int split_words(char *buf, char *argv[KMS_ARGS_MAX + 1])
{
    int n = 0;
    char *p = buf;
    while (*p) {
        while (*p == ' ' || *p == '\t') *p++ = '\0';
        if (*p == '\0') break;
        if (n == KMS_ARGS_MAX) return -1;
        argv[n++] = p;
        while (*p && *p != ' ' && *p != '\t') p++;
    }
    argv[n] = NULL;
    return n;
}

/* Reads the child's stdout into out (at most cap bytes; more is an error)
 * until EOF or the deadline. Returns the length, -1 on error or too much
 * output, -2 on timeout. */
static ssize_t read_until(int fd, char *out, size_t cap, int64_t deadline)
{
    size_t len = 0;
    for (;;) {
        struct pollfd pf = { fd, POLLIN, 0 };
        int64_t left = deadline - cf_monotonic_ms();
        ssize_t n;
        int r;
        if (left <= 0) return -2;
        r = poll(&pf, 1, (int)(left > 60000 ? 60000 : left));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) continue; /* the deadline is checked above */
        n = read(fd, out + len, cap - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) return (ssize_t)len;
        len += (size_t)n;
        if (len == cap) {
            char c;
            /* one more byte means the output is too long */
            n = read(fd, &c, 1);
            return n == 0 ? (ssize_t)len : -1;
        }
    }
}

/* coffer's environment for the command, less coffer's own secrets (the
 * command needs its own credentials, not the S3 root's). The strings are
 * borrowed from environ; free() the array. */
static char **child_env(void)
{
    static const char *const drop[] = { "COFFER_ROOT_SECRET_KEY=",
                                        "COFFER_MASTER_KEY=" };
    size_t n = 0, i, j, k = 0;
    char **env;

    while (environ[n]) n++;
    env = calloc(n + 1, sizeof(*env));
    if (env == NULL) return NULL;
    for (i = 0; i < n; i++) {
        for (j = 0; j < sizeof(drop) / sizeof(drop[0]); j++)
            if (strncmp(environ[i], drop[j], strlen(drop[j])) == 0) break;
        if (j == sizeof(drop) / sizeof(drop[0])) env[k++] = environ[i];
    }
    env[k] = NULL;
    return env;
}

int gw_master_key_from_command(const char *cmd, int timeout_ms,
                               unsigned char out[GW_SSE_KEY])
{
    char *buf = strdup(cmd), *argv[KMS_ARGS_MAX + 1], e[128];
    char got[KMS_OUT_MAX];
    posix_spawn_file_actions_t fa;
    int pfd[2] = { -1, -1 }, status = 0, rc = -1, words;
    int64_t deadline;
    pid_t pid = -1, w = -1;
    char **env;
    ssize_t n = -1;
    size_t len;

    if (buf == NULL) return -1;
    words = split_words(buf, argv);
    if (words < 1 || argv[0][0] != '/') {
        cf_log(CF_LOG_ERR, "sse: encryption.kms_command: must start with "
               "the absolute path of a program (at most %d words)",
               KMS_ARGS_MAX);
        goto out_free;
    }
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        cf_log(CF_LOG_ERR, "sse: kms command: pipe: %s",
               cf_strerror(errno, e, sizeof(e)));
        goto out_free;
    }
    if (posix_spawn_file_actions_init(&fa) != 0) goto out_close;
    /* stdin from /dev/null, stdout into the pipe, stderr inherited (the
     * command's own complaints reach the log) */
    if (posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) ||
        posix_spawn_file_actions_adddup2(&fa, pfd[1], 1)) {
        posix_spawn_file_actions_destroy(&fa);
        goto out_close;
    }
    env = child_env();
    errno = env ? posix_spawn(&pid, argv[0], &fa, NULL, argv, env) : ENOMEM;
    free(env);
    posix_spawn_file_actions_destroy(&fa);
    if (errno != 0) {
        cf_log(CF_LOG_ERR, "sse: kms command %s: cannot run it: %s", argv[0],
               cf_strerror(errno, e, sizeof(e)));
        pid = -1;
        goto out_close;
    }
    close(pfd[1]);
    pfd[1] = -1;
    deadline = cf_monotonic_ms() + timeout_ms;
    n = read_until(pfd[0], got, sizeof(got), deadline);
    if (n >= 0) {
        /* then its exit, within the same deadline (a program that closes
         * its stdout and lingers is killed too) */
        while ((w = waitpid(pid, &status, WNOHANG)) == 0 &&
               cf_monotonic_ms() < deadline)
            poll(NULL, 0, 5);
        if (w == 0) n = -2;
        if (w < 0) {
            cf_log(CF_LOG_ERR, "sse: kms command %s: waitpid: %s", argv[0],
                   cf_strerror(errno, e, sizeof(e)));
            goto out_close;
        }
    }
    if (n < 0) {
        /* no answer in time, too much output, or a read error */
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        if (n == -2)
            cf_log(CF_LOG_ERR, "sse: kms command %s: no answer within %d ms "
                   "(killed)", argv[0], timeout_ms);
        else
            cf_log(CF_LOG_ERR, "sse: kms command %s: its output is longer "
                   "than %d bytes, or unreadable", argv[0], KMS_OUT_MAX);
        goto out_close;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFEXITED(status))
            cf_log(CF_LOG_ERR, "sse: kms command %s: exit status %d",
                   argv[0], WEXITSTATUS(status));
        else
            cf_log(CF_LOG_ERR, "sse: kms command %s: killed by signal %d",
                   argv[0], WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        goto out_close;
    }
    /* exactly 64 hex digits, then at most one newline; the output itself
     * is never logged (it is the key) */
    len = (size_t)n;
    if (len > 0 && got[len - 1] == '\n') len--;
    if (len != 2 * GW_SSE_KEY ||
        cf_hex_decode(got, len, out, GW_SSE_KEY) != 0) {
        cf_log(CF_LOG_ERR, "sse: kms command %s: its standard output must be "
               "the master key as 64 hex digits and at most one newline",
               argv[0]);
        OPENSSL_cleanse(out, GW_SSE_KEY);
        goto out_close;
    }
    rc = 0;
out_close:
    OPENSSL_cleanse(got, sizeof(got));
    if (pfd[0] >= 0) close(pfd[0]);
    if (pfd[1] >= 0) close(pfd[1]);
out_free:
    free(buf);
    return rc;
}

int gw_master_key_load(const struct conf *conf, int create,
                       unsigned char out[GW_SSE_KEY])
{
    const char *env = getenv("COFFER_MASTER_KEY");
    if (env && *env) {
        if (strlen(env) != 2 * GW_SSE_KEY ||
            cf_hex_decode(env, 2 * GW_SSE_KEY, out, GW_SSE_KEY) != 0) {
            cf_log(CF_LOG_ERR, "sse: COFFER_MASTER_KEY: must be 64 hex "
                   "digits (32 bytes)");
            OPENSSL_cleanse(out, GW_SSE_KEY);
            return -1;
        }
        if (conf->kms_command)
            cf_log(CF_LOG_WARN, "sse: COFFER_MASTER_KEY overrides "
                   "encryption.kms_command");
        return 0;
    }
    if (conf->kms_command)
        return gw_master_key_from_command(conf->kms_command,
                                          GW_KMS_TIMEOUT_MS, out);
    if (conf->master_key_file == NULL) {
        cf_log(CF_LOG_ERR, "sse: no master key file configured");
        return -1;
    }
    return gw_master_key_from_file(conf->master_key_file, create, out);
}

uint64_t gw_master_key_id(const unsigned char key[GW_SSE_KEY])
{
    unsigned char md[32];
    unsigned int n = 0;
    uint64_t id = 0;
    int i;

    if (HMAC(EVP_sha256(), key, GW_SSE_KEY,
             (const unsigned char *)KEY_ID_LABEL, sizeof(KEY_ID_LABEL) - 1,
             md, &n) == NULL) {
        ERR_clear_error();
        return 1; /* never happens with SHA-256; 1 matches no real key */
    }
    for (i = 0; i < 8; i++) id = id << 8 | md[i];
    return id ? id : 2;
}

void gw_master_key_id_bytes(uint64_t id, unsigned char out[8])
{
    int i;
    for (i = 7; i >= 0; i--) {
        out[i] = (unsigned char)(id & 0xff);
        id >>= 8;
    }
}

/* The id a record names, 0 when it names none (written before ids). */
static uint64_t record_id(const struct meta_sse *s)
{
    uint64_t id = 0;
    size_t i;
    if (s->alg != META_SSE_S3 || s->kid_len != 8) return 0;
    for (i = 0; i < 8; i++) id = id << 8 | s->kid[i];
    return id;
}

/* ---- the catalog's record of the key ---- */

/* The first SSE-S3 record of the catalog (a version, else an upload in
 * progress), to try a key on. */
struct probe {
    int found;
    struct meta_sse sse;
};

static int probe_version(const char *bucket, const struct meta_version *v,
                         void *arg)
{
    struct probe *p = arg;
    (void)bucket;
    if (v->sse.alg != META_SSE_S3) return 0;
    p->found = 1;
    p->sse = v->sse;
    return 1;
}

static int probe_upload(const char *bucket, const struct meta_upload *u,
                        void *arg)
{
    struct probe *p = arg;
    struct meta_sse s;
    size_t i;
    (void)bucket;
    for (i = 0; i < u->nheaders; i++) {
        if (strcmp(u->headers[i].name, GW_UPLOAD_SSE_HEADER) != 0) continue;
        if (gw_sse_upload_decode(u->headers[i].value, &s) != 0 ||
            s.alg != META_SSE_S3)
            return 0;
        p->found = 1;
        p->sse = s;
        return 1;
    }
    return 0;
}

enum gw_status gw_master_key_check(struct meta_db *db,
                                   const unsigned char key[GW_SSE_KEY])
{
    uint64_t id = gw_master_key_id(key), cur = 0, to = 0;
    unsigned char dek[GW_SSE_KEY];
    struct probe pr;

    if (meta_counter_get(db, CTR_ROTATE, &to) != META_OK ||
        meta_counter_get(db, CTR_MASTER, &cur) != META_OK)
        return GW_EIO;
    if (to != 0) {
        cf_log(CF_LOG_ERR, "sse: a master key rotation to key %016llx is "
               "unfinished: run `coffer key rotate` again with the same "
               "new key to finish it",
               (unsigned long long)to);
        return GW_EINVAL;
    }
    if (cur == id) return GW_OK;
    /* Not recorded yet, or another key: it matters only if some record
     * depends on the master key. */
    memset(&pr, 0, sizeof(pr));
    if (meta_version_foreach(db, NULL, probe_version, &pr) != META_OK ||
        (!pr.found && meta_upload_foreach(db, probe_upload, &pr) != META_OK))
        return GW_EIO;
    if (pr.found && cur != 0) {
        cf_log(CF_LOG_ERR, "sse: the master key (id %016llx) is not this "
               "catalog's master key (id %016llx); after `coffer key "
               "rotate`, only the new key opens it",
               (unsigned long long)id, (unsigned long long)cur);
        return GW_EINVAL;
    }
    if (pr.found) {
        /* a catalog from before key ids: the key must open its records */
        if (record_id(&pr.sse) != 0 ? record_id(&pr.sse) != id
                                    : gw_sse_unwrap(key, pr.sse.wkey,
                                                    pr.sse.wkey_len,
                                                    GW_SSE_AAD_S3, dek) != 0) {
            cf_log(CF_LOG_ERR, "sse: the master key (id %016llx) does not "
                   "open this catalog's SSE-S3 data keys",
                   (unsigned long long)id);
            return GW_EINVAL;
        }
        OPENSSL_cleanse(dek, sizeof(dek));
    }
    if (meta_counter_set(db, CTR_MASTER, id) != META_OK) return GW_EIO;
    if (cur != 0)
        cf_log(CF_LOG_NOTICE, "sse: no SSE-S3 object or upload depends on "
               "master key %016llx: the catalog now records key %016llx",
               (unsigned long long)cur, (unsigned long long)id);
    else
        cf_log(CF_LOG_INFO, "sse: master key %016llx recorded in the catalog",
               (unsigned long long)id);
    return GW_OK;
}

/* ---- rotation ---- */

struct rot {
    struct meta_db *db;
    const unsigned char *old_key, *new_key;
    uint64_t new_id;
    struct gw_rotate_stats *st;
    int result; /* of the last record: 1 re-wrapped, 0 current, -1 failed */
    enum meta_status mst;
};

/* Re-wraps one SSE-S3 record in place: 1 changed, 0 already under the
 * new key, -1 when it unwraps with neither key. */
static int rewrap(struct meta_sse *s, const struct rot *r)
{
    unsigned char dek[GW_SSE_KEY], w[GW_SSE_WRAPPED];
    int rc = 1;

    if (record_id(s) == r->new_id) return 0;
    if (gw_sse_unwrap(r->old_key, s->wkey, s->wkey_len, GW_SSE_AAD_S3,
                      dek) != 0) {
        /* a record without an id that the new key already opens: only
         * its id is missing */
        if (gw_sse_unwrap(r->new_key, s->wkey, s->wkey_len, GW_SSE_AAD_S3,
                          dek) != 0)
            return -1;
        memcpy(w, s->wkey, GW_SSE_WRAPPED);
    } else if (gw_sse_wrap(r->new_key, dek, GW_SSE_AAD_S3, w) != 0) {
        rc = -1;
    }
    OPENSSL_cleanse(dek, sizeof(dek));
    if (rc < 0) return rc;
    memcpy(s->wkey, w, GW_SSE_WRAPPED);
    s->wkey_len = GW_SSE_WRAPPED;
    gw_master_key_id_bytes(r->new_id, s->kid);
    s->kid_len = 8;
    return 1;
}

static int version_fn(struct meta_version *v, void *arg)
{
    struct rot *r = arg;
    if (v->sse.alg != META_SSE_S3) {
        r->result = 0;
        return 1;
    }
    r->result = rewrap(&v->sse, r);
    return r->result == 1 ? 0 : 1;
}

static int each_version(const char *bucket, const struct meta_version *v,
                        void *arg)
{
    struct rot *r = arg;
    enum meta_status st;

    if (v->delete_marker || v->sse.alg != META_SSE_S3) return 0;
    if (record_id(&v->sse) == r->new_id) {
        r->st->versions_current++;
        return 0;
    }
    r->result = 0;
    st = meta_object_update(r->db, bucket, v->key, v->key_len, v->version_id,
                            version_fn, r);
    if (st == META_ENOTFOUND) return 0; /* gone meanwhile */
    if (st != META_OK && st != META_EDENIED) {
        r->mst = st;
        return 1;
    }
    if (r->result == 1) r->st->versions_rewrapped++;
    else if (r->result == 0) r->st->versions_current++;
    else {
        r->st->failed++;
        cf_log(CF_LOG_ERR, "sse: %s/%.*s version %s: its data key unwraps "
               "with neither key", bucket, (int)v->key_len, v->key,
               v->version_id);
    }
    return 0;
}

static int upload_fn(struct meta_upload *u, void *arg)
{
    struct rot *r = arg;
    struct meta_sse s;
    char hex[2 * GW_SSE_UPLOAD_MAX + 1], *nv;
    size_t i;

    r->result = 0;
    for (i = 0; i < u->nheaders; i++) {
        if (strcmp(u->headers[i].name, GW_UPLOAD_SSE_HEADER) != 0) continue;
        if (gw_sse_upload_decode(u->headers[i].value, &s) != 0) {
            r->result = -1;
            return 1;
        }
        if (s.alg != META_SSE_S3) return 1;
        r->result = rewrap(&s, r);
        if (r->result != 1) return 1;
        if (gw_sse_upload_encode(&s, hex) != 0 ||
            (nv = strdup(hex)) == NULL) {
            r->result = -1;
            return 1;
        }
        OPENSSL_cleanse(u->headers[i].value, strlen(u->headers[i].value));
        free(u->headers[i].value);
        u->headers[i].value = nv;
        return 0;
    }
    return 1;
}

static int each_upload(const char *bucket, const struct meta_upload *u,
                       void *arg)
{
    struct rot *r = arg;
    enum meta_status st;
    struct meta_sse s;
    size_t i;

    for (i = 0; i < u->nheaders; i++)
        if (strcmp(u->headers[i].name, GW_UPLOAD_SSE_HEADER) == 0) break;
    if (i == u->nheaders) return 0;
    if (gw_sse_upload_decode(u->headers[i].value, &s) == 0 &&
        (s.alg != META_SSE_S3 || record_id(&s) == r->new_id)) {
        if (s.alg == META_SSE_S3) r->st->uploads_current++;
        return 0;
    }
    st = meta_upload_update(r->db, bucket, u->key, u->key_len, u->upload_id,
                            upload_fn, r);
    if (st == META_ENOTFOUND) return 0;
    if (st != META_OK && st != META_EDENIED) {
        r->mst = st;
        return 1;
    }
    if (r->result == 1) r->st->uploads_rewrapped++;
    else if (r->result == 0) r->st->uploads_current++;
    else {
        r->st->failed++;
        cf_log(CF_LOG_ERR, "sse: %s/%.*s upload %s: its data key unwraps "
               "with neither key", bucket, (int)u->key_len, u->key,
               u->upload_id);
    }
    return 0;
}

enum gw_status gw_master_key_rotate(struct meta_db *db,
                                    const unsigned char old_key[GW_SSE_KEY],
                                    const unsigned char new_key[GW_SSE_KEY],
                                    struct gw_rotate_stats *st)
{
    uint64_t old_id = gw_master_key_id(old_key);
    uint64_t new_id = gw_master_key_id(new_key), cur = 0, to = 0;
    struct rot r;
    enum meta_status ms;

    memset(st, 0, sizeof(*st));
    st->old_id = old_id;
    st->new_id = new_id;
    if (CRYPTO_memcmp(old_key, new_key, GW_SSE_KEY) == 0) {
        cf_log(CF_LOG_ERR, "sse: the new master key is the current one");
        return GW_EINVAL;
    }
    if (meta_counter_get(db, CTR_ROTATE, &to) != META_OK ||
        meta_counter_get(db, CTR_MASTER, &cur) != META_OK)
        return GW_EIO;
    if (to != 0 && to != new_id) {
        cf_log(CF_LOG_ERR, "sse: an unfinished rotation to master key "
               "%016llx: give that key as the new key to finish it first",
               (unsigned long long)to);
        return GW_EINVAL;
    }
    if (cur != 0 && cur != old_id && cur != new_id) {
        cf_log(CF_LOG_ERR, "sse: the configured master key (id %016llx) is "
               "not this catalog's master key (id %016llx)",
               (unsigned long long)old_id, (unsigned long long)cur);
        return GW_EINVAL;
    }
    st->resumed = to == new_id;
    /* From here until the end every record unwraps with one of the two
     * keys, and the server refuses to start. */
    if (to == 0 && meta_counter_set(db, CTR_ROTATE, new_id) != META_OK)
        return GW_EIO;
    memset(&r, 0, sizeof(r));
    r.db = db;
    r.old_key = old_key;
    r.new_key = new_key;
    r.new_id = new_id;
    r.st = st;
    r.mst = META_OK;
    ms = meta_version_foreach(db, NULL, each_version, &r);
    if (ms == META_OK) ms = r.mst;
    if (ms == META_OK) ms = meta_upload_foreach(db, each_upload, &r);
    if (ms == META_OK) ms = r.mst;
    if (ms != META_OK) {
        cf_log(CF_LOG_ERR, "sse: key rotation stopped: %s (run it again to "
               "resume)", meta_strerror(ms));
        return GW_EIO;
    }
    if (st->failed) {
        cf_log(CF_LOG_ERR, "sse: %llu records unwrap with neither key; the "
               "rotation is not finished and the old key stays in use",
               (unsigned long long)st->failed);
        return GW_EINVAL;
    }
    /* Retire the old key: first name the new one, then end the rotation
     * (a crash between the two leaves a rotation that resumes and finds
     * nothing left to do). */
    if (meta_counter_set(db, CTR_MASTER, new_id) != META_OK ||
        meta_counter_set(db, CTR_ROTATE, 0) != META_OK)
        return GW_EIO;
    /* Evidence in the audit log, at the persisted compliance time (the
     * server, and so the clock, is stopped). Best effort: the rotation
     * itself is done. */
    {
        char ev[384];
        int64_t now = 0;
        if (meta_clock_get(db, &now) != META_OK) now = 0;
        snprintf(ev, sizeof(ev),
                 "{\"by\":\"coffer key rotate\",\"detail\":\"SSE-S3 master "
                 "key %016llx replaced by %016llx: %llu versions and %llu "
                 "uploads re-wrapped\",\"event\":\"sse-key-rotated\","
                 "\"request\":\"\"}",
                 (unsigned long long)old_id, (unsigned long long)new_id,
                 (unsigned long long)(st->versions_rewrapped +
                                      st->versions_current),
                 (unsigned long long)(st->uploads_rewrapped +
                                      st->uploads_current));
        if (meta_audit_log(db, now, ev) != META_OK)
            cf_log(CF_LOG_WARN, "sse: the key rotation is done but could "
                   "not be written to the audit log");
    }
    return GW_OK;
}

/* ---- the upload's encryption entry ---- */

int gw_sse_upload_encode(const struct meta_sse *s,
                         char hex[2 * GW_SSE_UPLOAD_MAX + 1])
{
    unsigned char raw[GW_SSE_UPLOAD_MAX];
    size_t n = GW_SSE_UPLOAD_BASE + s->kid_len;

    if (s->salt_len != GW_SSE_SALT || s->wkey_len != GW_SSE_WRAPPED ||
        n > GW_SSE_UPLOAD_MAX)
        return -1;
    raw[0] = (unsigned char)s->alg;
    memcpy(raw + 1, s->salt, GW_SSE_SALT);
    memcpy(raw + 1 + GW_SSE_SALT, s->wkey, GW_SSE_WRAPPED);
    memcpy(raw + GW_SSE_UPLOAD_BASE, s->kid, s->kid_len);
    cf_hex_encode(raw, n, hex);
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

int gw_sse_upload_decode(const char *hex, struct meta_sse *s)
{
    unsigned char raw[GW_SSE_UPLOAD_MAX];
    size_t hl = strlen(hex), rl = hl / 2;

    memset(s, 0, sizeof(*s));
    if (hl % 2 || (rl != GW_SSE_UPLOAD_BASE && rl != GW_SSE_UPLOAD_BASE + 8 &&
                   rl != GW_SSE_UPLOAD_MAX) ||
        cf_hex_decode(hex, hl, raw, rl) != 0)
        return -1;
    s->alg = raw[0];
    /* SSE-S3 names its master key (8 bytes) or nothing (older uploads);
     * SSE-C carries its key check value */
    if ((s->alg == META_SSE_S3 && rl == GW_SSE_UPLOAD_MAX) ||
        (s->alg == META_SSE_C && rl != GW_SSE_UPLOAD_MAX) ||
        (s->alg != META_SSE_S3 && s->alg != META_SSE_C)) {
        memset(s, 0, sizeof(*s));
        return -1;
    }
    memcpy(s->salt, raw + 1, GW_SSE_SALT);
    s->salt_len = GW_SSE_SALT;
    memcpy(s->wkey, raw + 1 + GW_SSE_SALT, GW_SSE_WRAPPED);
    s->wkey_len = GW_SSE_WRAPPED;
    memcpy(s->kid, raw + GW_SSE_UPLOAD_BASE, rl - GW_SSE_UPLOAD_BASE);
    s->kid_len = rl - GW_SSE_UPLOAD_BASE;
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}
