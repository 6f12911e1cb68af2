/* gw_tls.c: TLS for the gateway: the shared SSL_CTX, its reload on SIGHUP,
 * and the self-signed certificate of `coffer serve --tls` without files.
 *
 * One SSL_CTX serves every loop. It is published through tls->ctx under
 * tls->lock. A connection takes its SSL with SSL_new(), which holds a
 * reference of its own on the ctx, so a reload builds a new ctx aside,
 * swaps the pointer under the lock and drops the server's reference to the
 * old one: connections already open keep the certificate they were accepted
 * with, and OpenSSL frees the old ctx when the last of them closes.
 *
 * Reloads run on a thread of their own (reading PEM files may block on a
 * disk, which a loop must not do), woken through a pipe so that asking for
 * one is async-signal-safe. A reload that fails logs why and leaves the
 * current ctx in place.
 *
 * Policy: TLS 1.2 minimum, TLS 1.3 preferred (OpenSSL picks the highest
 * version both sides offer); TLS 1.2 suites are ECDHE with an AEAD only;
 * no compression, no renegotiation.
 *
 * Self-signed mode: <data_dir>/tls/key.pem (mode 0600) and cert.pem, an EC
 * P-256 key and a certificate for DNS:localhost, IP:127.0.0.1 and IP:::1,
 * made with OpenSSL's EVP/X509 APIs. Generated when either file is
 * missing, reused otherwise; an expired one is replaced. Both files are
 * written to a temporary name, synced, then renamed, key first, so a crash
 * leaves either the old pair or no cert.pem (so a new pair is made at the
 * next start), never a certificate beside a key that is not its own. */
#include "gw_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define TLS_DIR "tls"
#define TLS_CERT_FILE "cert.pem"
#define TLS_KEY_FILE "key.pem"
#define TLS_SELF_DAYS 825 /* the longest validity Apple clients accept */

/* TLS 1.2: forward secrecy (ECDHE) and AEAD ciphers only, as Mozilla's
 * "intermediate" profile minus its DHE suites. */
#define TLS12_CIPHERS                                                          \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"               \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"               \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES                                                           \
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"                           \
    "TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS "X25519:P-256:P-384"

struct gw_tls {
    pthread_mutex_t lock;   /* guards ctx and fp */
    SSL_CTX *ctx;           /* new connections' ctx; one ref owned here */
    char fp[GW_TLS_FP_LEN]; /* SHA-256 fingerprint of ctx's certificate */
    char *cert_path;        /* owned; read again by every reload */
    char *key_path;         /* owned */
    int self_signed;        /* the pair lives in data_dir/tls */
    int pipe[2];            /* reload requests: a byte each; EOF stops
                               the reloader */
    pthread_t thread;       /* the reloader */
    int have_thread;
};

/* Drains OpenSSL's error queue of this thread into one line. */
static const char *ssl_errors(char *buf, size_t cap)
{
    unsigned long e;
    size_t n = 0;

    buf[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        char one[256];
        ERR_error_string_n(e, one, sizeof(one));
        if (n < cap)
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? "; " : "", one);
    }
    if (buf[0] == '\0') snprintf(buf, cap, "%s", "unknown error");
    return buf;
}

static void fingerprint(X509 *x, char out[GW_TLS_FP_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;
    static const char hex[] = "0123456789ABCDEF";

    out[0] = '\0';
    if (x == NULL || !X509_digest(x, EVP_sha256(), md, &n)) return;
    for (i = 0; i < n && i * 3 + 3 <= GW_TLS_FP_LEN; i++) {
        out[i * 3] = hex[md[i] >> 4];
        out[i * 3 + 1] = hex[md[i] & 15];
        out[i * 3 + 2] = i + 1 < n ? ':' : '\0';
    }
}

/* Encrypted private keys are refused rather than prompting for a
 * passphrase on a terminal a daemon (or the reloader thread) may not have. */
static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
    return -1;
}

/* A new SSL_CTX with coffer's policy and the given pair loaded and checked
 * against each other. NULL after logging why. */
static SSL_CTX *ctx_load(const char *cert, const char *key,
                         char fp[GW_TLS_FP_LEN])
{
    char eb[1024];
    SSL_CTX *ctx;

    ERR_clear_error();
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        cf_log(CF_LOG_ERR, "gw: tls: cannot create a context: %s",
               ssl_errors(eb, sizeof(eb)));
        return NULL;
    }
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) ||
        !SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) ||
        !SSL_CTX_set1_groups_list(ctx, TLS_GROUPS)) {
        cf_log(CF_LOG_ERR, "gw: tls: cannot set the protocol policy: %s",
               ssl_errors(eb, sizeof(eb)));
        goto out_free;
    }
    /* A peer that closes without close_notify is an ordinary EOF, as most
     * HTTP clients do it: HTTP framing, not TLS, ends a message, and a
     * truncated request fails as an incomplete body. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        cf_log(CF_LOG_ERR, "gw: tls: %s: cannot load the certificate: %s", cert,
               ssl_errors(eb, sizeof(eb)));
        goto out_free;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        cf_log(CF_LOG_ERR,
               "gw: tls: %s: cannot load the private key (PEM, not "
               "encrypted, matching the certificate): %s",
               key, ssl_errors(eb, sizeof(eb)));
        goto out_free;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        cf_log(CF_LOG_ERR,
               "gw: tls: %s does not match the certificate in "
               "%s: %s",
               key, cert, ssl_errors(eb, sizeof(eb)));
        goto out_free;
    }
    fingerprint(SSL_CTX_get0_certificate(ctx), fp);
    return ctx;
out_free:
    SSL_CTX_free(ctx);
    return NULL;
}

/* ---- self-signed certificate ------------------------------------------ */

/* Writes what emit() produces to path via path.tmp (mode 0600, synced),
 * then renames it into place. 0 or -1 after logging. */
static int write_pem(const char *path, int (*emit)(FILE *, void *), void *arg)
{
    char tmp[4200], eb[128];
    FILE *f;
    int fd, e;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    (void)unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        e = errno;
        cf_log(CF_LOG_ERR, "gw: tls: %s: %s", tmp,
               cf_strerror(e, eb, sizeof(eb)));
        return -1;
    }
    f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        goto out_unlink;
    }
    if (!emit(f, arg) || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        goto out_unlink;
    }
    if (fclose(f) != 0) goto out_unlink;
    if (rename(tmp, path) != 0) goto out_unlink;
    return 0;
out_unlink:
    e = errno;
    cf_log(CF_LOG_ERR, "gw: tls: cannot write %s: %s", path,
           cf_strerror(e, eb, sizeof(eb)));
    (void)unlink(tmp);
    return -1;
}

static int emit_key(FILE *f, void *arg)
{
    return PEM_write_PrivateKey(f, arg, NULL, NULL, 0, NULL, NULL);
}

static int emit_cert(FILE *f, void *arg)
{
    return PEM_write_X509(f, arg);
}

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx_nodb(&v);
    X509V3_set_ctx(&v, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v, nid, value);
    if (ext == NULL) return 0;
    ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/* A new EC P-256 key and a certificate for it, signed by itself. */
static X509 *selfsigned_new(EVP_PKEY **keyp)
{
    unsigned char serial[16];
    EVP_PKEY *pk;
    X509 *x = NULL;
    X509_NAME *name;
    BIGNUM *bn = NULL;

    pk = EVP_EC_gen("P-256");
    if (pk == NULL) return NULL;
    x = X509_new();
    if (x == NULL) goto out_free;
    cf_random_bytes(serial, sizeof(serial));
    serial[0] &= 0x7f; /* positive, at most 20 bytes (RFC 5280 4.1.2.2) */
    serial[0] |= 0x01;
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    name = X509_get_subject_name(x);
    if (bn == NULL || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
        !X509_set_version(x, X509_VERSION_3) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 86400L * TLS_SELF_DAYS) ||
        !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                    (const unsigned char *)"coffer", -1, -1,
                                    0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    (const unsigned char *)"localhost", -1, -1,
                                    0) ||
        !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, pk) ||
        !add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(x, NID_key_usage, "critical,digitalSignature") ||
        !add_ext(x, NID_ext_key_usage, "serverAuth") ||
        !add_ext(x, NID_subject_alt_name,
                 "DNS:localhost,IP:127.0.0.1,IP:::1") ||
        !add_ext(x, NID_subject_key_identifier, "hash") ||
        !X509_sign(x, pk, EVP_sha256()))
        goto out_free;
    BN_free(bn);
    *keyp = pk;
    return x;
out_free:
    BN_free(bn);
    X509_free(x);
    EVP_PKEY_free(pk);
    return NULL;
}

/* 1 if path holds a certificate that has not expired yet. */
static int cert_usable(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x;
    int ok;

    if (f == NULL) return 0;
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (x == NULL) return 0;
    ok = X509_cmp_current_time(X509_get0_notAfter(x)) > 0;
    X509_free(x);
    return ok;
}

/* Makes sure dir/key.pem and dir/cert.pem hold a usable pair. */
static int selfsigned_ensure(const char *dir, const char *cert, const char *key)
{
    char eb[1024];
    struct stat st;
    EVP_PKEY *pk = NULL;
    X509 *x;
    int rc = -1, e;

    if (stat(key, &st) == 0 && stat(cert, &st) == 0) {
        if (cert_usable(cert)) return 0;
        cf_log(CF_LOG_NOTICE,
               "gw: tls: %s is expired or unreadable: "
               "generating a new self-signed certificate",
               cert);
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        e = errno;
        cf_log(CF_LOG_ERR, "gw: tls: cannot create %s: %s", dir,
               cf_strerror(e, eb, sizeof(eb)));
        return -1;
    }
    ERR_clear_error();
    x = selfsigned_new(&pk);
    if (x == NULL) {
        cf_log(CF_LOG_ERR,
               "gw: tls: cannot generate a self-signed "
               "certificate: %s",
               ssl_errors(eb, sizeof(eb)));
        return -1;
    }
    /* The certificate goes first out of the way: a crash between the two
     * renames must not leave a new key beside an old certificate. */
    (void)unlink(cert);
    if (write_pem(key, emit_key, pk) == 0 &&
        write_pem(cert, emit_cert, x) == 0) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd); /* best effort: regenerated if lost */
            close(dfd);
        }
        cf_log(CF_LOG_NOTICE,
               "gw: tls: generated a self-signed certificate "
               "in %s",
               cert);
        rc = 0;
    }
    X509_free(x);
    EVP_PKEY_free(pk);
    return rc;
}

/* ---- reloads ----------------------------------------------------------- */

static void do_reload(struct gw_tls *t)
{
    char fp[GW_TLS_FP_LEN];
    SSL_CTX *ctx, *old;

    ctx = ctx_load(t->cert_path, t->key_path, fp);
    if (ctx == NULL) {
        cf_log(CF_LOG_ERR,
               "gw: tls: reload failed; still serving the "
               "previous certificate (SHA-256 %s)",
               t->fp);
        return;
    }
    pthread_mutex_lock(&t->lock);
    old = t->ctx;
    t->ctx = ctx;
    memcpy(t->fp, fp, sizeof(fp));
    pthread_mutex_unlock(&t->lock);
    SSL_CTX_free(old); /* open connections hold their own references */
    cf_log(CF_LOG_NOTICE,
           "gw: tls: reloaded %s; new connections get "
           "SHA-256 %s",
           t->cert_path, fp);
}

static void *reload_main(void *arg)
{
    struct gw_tls *t = arg;
    char buf[64];
    ssize_t n;

    for (;;) {
        /* Several signals in a row are read at once and make one reload. */
        n = read(t->pipe[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return NULL;
        do_reload(t);
    }
}

void gw_tls_reload(struct gw_tls *t)
{
    char c = 'r';
    if (t == NULL) return;
    /* Async-signal-safe; a full pipe already holds a pending request. */
    if (write(t->pipe[1], &c, 1) < 0) return;
}

/* ---- lifetime ---------------------------------------------------------- */

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

enum gw_status gw_tls_new(const struct conf *conf, struct gw_tls **out)
{
    struct gw_tls *t;
    char *dir = NULL;

    *out = NULL;
    t = calloc(1, sizeof(*t));
    if (t == NULL) return GW_ENOMEM;
    pthread_mutex_init(&t->lock, NULL);
    t->pipe[0] = t->pipe[1] = -1;
    if (conf->tls_cert != NULL) {
        t->cert_path = strdup(conf->tls_cert);
        t->key_path = strdup(conf->tls_key);
    } else {
        t->self_signed = 1;
        dir = join(conf->data_dir, TLS_DIR);
        if (dir) t->cert_path = join(dir, TLS_CERT_FILE);
        if (dir) t->key_path = join(dir, TLS_KEY_FILE);
    }
    if (t->cert_path == NULL || t->key_path == NULL) goto out_nomem;
    if (t->self_signed &&
        selfsigned_ensure(dir, t->cert_path, t->key_path) != 0)
        goto out_free;
    t->ctx = ctx_load(t->cert_path, t->key_path, t->fp);
    if (t->ctx == NULL) goto out_free;
    if (pipe2(t->pipe, O_CLOEXEC) != 0) goto out_free;
    if (pthread_create(&t->thread, NULL, reload_main, t) != 0) goto out_free;
    t->have_thread = 1;
    free(dir);
    *out = t;
    return GW_OK;
out_nomem:
    free(dir);
    gw_tls_free(t);
    return GW_ENOMEM;
out_free:
    free(dir);
    gw_tls_free(t);
    return GW_EINVAL;
}

SSL *gw_tls_ssl_new(struct gw_tls *t)
{
    SSL *ssl;

    pthread_mutex_lock(&t->lock);
    ssl = SSL_new(t->ctx); /* takes its own reference on the ctx */
    pthread_mutex_unlock(&t->lock);
    return ssl;
}

void gw_tls_info(struct gw_tls *t, const char **cert, int *self_signed,
                 char fp[GW_TLS_FP_LEN])
{
    pthread_mutex_lock(&t->lock);
    memcpy(fp, t->fp, GW_TLS_FP_LEN);
    pthread_mutex_unlock(&t->lock);
    *cert = t->cert_path;
    *self_signed = t->self_signed;
}

void gw_tls_free(struct gw_tls *t)
{
    if (t == NULL) return;
    /* EOF on the pipe stops the reloader once it has read what is queued
     * (a reload may still run first); then nothing else uses t. */
    if (t->pipe[1] >= 0) close(t->pipe[1]);
    if (t->have_thread) pthread_join(t->thread, NULL);
    if (t->pipe[0] >= 0) close(t->pipe[0]);
    SSL_CTX_free(t->ctx);
    pthread_mutex_destroy(&t->lock);
    free(t->cert_path);
    free(t->key_path);
    free(t);
}
