/* conf.c: defaults, the YAML file, command-line overrides, validation.
 * The file is loaded with libyaml's document API so every node keeps its
 * line; every error reads "FILE:LINE: key.path: reason". Unknown and
 * duplicate keys are errors: a typo must not silently fall back to a
 * default. */
#include "conf.h"
#include "cf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#define KIB 1024ULL
#define MIB (1024ULL * KIB)
#define GIB (1024ULL * MIB)

enum conf_status conf_init_defaults(struct conf *c)
{
    memset(c, 0, sizeof(*c));
    if (conf_set_str(&c->listen, "127.0.0.1:9000") ||
        conf_set_str(&c->console_listen, "127.0.0.1:8443") ||
        conf_set_str(&c->data_dir, "./coffer-data") ||
        conf_set_str(&c->region, "us-east-1") ||
        conf_set_str(&c->log_level, "notice"))
        return CONF_ENOMEM;
    c->ec_data = 4;
    c->ec_parity = 2;
    c->stripe_size = 1 * MIB;
    c->max_threads = 0;
    c->io_threads = 8;
    c->buffer_size = 256 * KIB;
    c->max_header_bytes = 64 * KIB;
    c->max_xml_bytes = 1 * MIB;
    c->max_object_bytes = 5 * GIB;
    c->max_connections = 1024;
    c->idle_timeout_s = 60;
    c->header_timeout_s = 30;
    c->body_timeout_s = 60;
    return CONF_OK;
}

enum conf_status conf_set_str(char **field, const char *value)
{
    char *p = value ? strdup(value) : NULL;
    if (value && p == NULL) return CONF_ENOMEM;
    free(*field);
    *field = p;
    return CONF_OK;
}

static void free_users(struct conf *c)
{
    int i;
    for (i = 0; i < c->nusers; i++) {
        free(c->users[i].access_key);
        free(c->users[i].secret_key);
    }
    free(c->users);
    c->users = NULL;
    c->nusers = 0;
}

static void free_disks(struct conf *c)
{
    int i;
    for (i = 0; i < c->ndisks; i++) free(c->disks[i]);
    free(c->disks);
    c->disks = NULL;
    c->ndisks = 0;
}

void conf_cleanup(struct conf *c)
{
    free(c->path);
    free(c->listen);
    free(c->console_listen);
    free(c->data_dir);
    free(c->meta_dir);
    free(c->region);
    free(c->domain);
    free(c->log_level);
    free_disks(c);
    free_users(c);
    memset(c, 0, sizeof(*c));
}

int conf_parse_addr(const char *s, char *host, size_t hostcap, int *port)
{
    const char *colon, *h = s;
    size_t hl;
    char *end;
    long p;

    if (s == NULL || *s == '\0') return -1;
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL || rb[1] != ':') return -1;
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) return -1;
        hl = (size_t)(colon - s);
        if (memchr(s, ':', hl)) return -1; /* bare IPv6 needs brackets */
    }
    if (hl >= hostcap) return -1;
    p = strtol(colon + 1, &end, 10);
    if (*end != '\0' || colon[1] == '\0' || p < 1 || p > 65535) return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

/* ---- loading ---- */

struct loader {
    yaml_document_t doc;
    const char *file;
    char *err;
    size_t errlen;
};

static int fail(struct loader *L, yaml_node_t *n, const char *key,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(struct loader *L, yaml_node_t *n, const char *key,
                const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(L->err, L->errlen, "%s:%zu: %s: %s", L->file,
             n ? n->start_mark.line + 1 : 0, key, msg);
    return -1;
}

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
                                            : NULL;
}

static int get_str(struct loader *L, yaml_node_t *n, const char *key,
                   char **out)
{
    const char *s = scalar(n);
    if (s == NULL) return fail(L, n, key, "must be a string");
    if (*s == '\0') return fail(L, n, key, "must not be empty");
    return conf_set_str(out, s) == CONF_OK ? 0
                                           : fail(L, n, key, "out of memory");
}

static int get_int(struct loader *L, yaml_node_t *n, const char *key,
                   long lo, long hi, int *out)
{
    const char *s = scalar(n);
    char *end;
    long v;
    if (s == NULL || *s == '\0') return fail(L, n, key, "must be a number");
    errno = 0;
    v = strtol(s, &end, 10);
    if (*end != '\0' || errno) return fail(L, n, key, "must be a number, got "
                                           "'%s'", s);
    if (v < lo || v > hi)
        return fail(L, n, key, "must be %ld..%ld, got %ld", lo, hi, v);
    *out = (int)v;
    return 0;
}

/* Sizes: 123, 64K, 64KiB, 1M, 1MiB, 5G, 5GiB (powers of 1024). */
static int get_size(struct loader *L, yaml_node_t *n, const char *key,
                    uint64_t lo, uint64_t hi, uint64_t *out)
{
    const char *s = scalar(n);
    char *end;
    unsigned long long v, mul = 1;
    if (s == NULL || *s < '0' || *s > '9')
        return fail(L, n, key, "must be a size such as 64KiB, 1MiB, 5GiB");
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno) return fail(L, n, key, "number too large");
    if (*end) {
        if (strcmp(end, "K") == 0 || strcmp(end, "KiB") == 0 ||
            strcmp(end, "KB") == 0)
            mul = KIB;
        else if (strcmp(end, "M") == 0 || strcmp(end, "MiB") == 0 ||
                 strcmp(end, "MB") == 0)
            mul = MIB;
        else if (strcmp(end, "G") == 0 || strcmp(end, "GiB") == 0 ||
                 strcmp(end, "GB") == 0)
            mul = GIB;
        else
            return fail(L, n, key, "unknown size suffix '%s' (use KiB, MiB "
                        "or GiB)", end);
    }
    if (v > UINT64_MAX / mul) return fail(L, n, key, "number too large");
    v *= mul;
    if (v < lo || v > hi)
        return fail(L, n, key, "must be between %" PRIu64 " and %" PRIu64
                    " bytes, got %llu", lo, hi, v);
    *out = v;
    return 0;
}

/* Durations: 30, 30s, 5m, 1h (seconds). */
static int get_duration(struct loader *L, yaml_node_t *n, const char *key,
                        long lo, long hi, int *out)
{
    const char *s = scalar(n);
    char *end;
    long v, mul = 1;
    if (s == NULL || *s < '0' || *s > '9')
        return fail(L, n, key, "must be a duration such as 30s, 5m, 1h");
    v = strtol(s, &end, 10);
    if (*end) {
        if (strcmp(end, "s") == 0) mul = 1;
        else if (strcmp(end, "m") == 0) mul = 60;
        else if (strcmp(end, "h") == 0) mul = 3600;
        else return fail(L, n, key, "unknown duration suffix '%s'", end);
    }
    if (v > hi / mul + 1) v = hi + 1;
    else v *= mul;
    if (v < lo || v > hi)
        return fail(L, n, key, "must be %lds..%lds, got %s", lo, hi, s);
    *out = (int)v;
    return 0;
}

static int get_bool(struct loader *L, yaml_node_t *n, const char *key,
                    int *out)
{
    const char *s = scalar(n);
    if (s && (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0)) *out = 1;
    else if (s && (strcmp(s, "false") == 0 || strcmp(s, "no") == 0)) *out = 0;
    else return fail(L, n, key, "must be true or false");
    return 0;
}

/* Walks a mapping, refusing duplicate keys; calls fn for each pair. */
typedef int (*pair_fn)(struct loader *L, const char *key, yaml_node_t *kn,
                       yaml_node_t *vn, void *arg);

static int each_pair(struct loader *L, yaml_node_t *map, const char *where,
                     pair_fn fn, void *arg)
{
    yaml_node_pair_t *p, *q;

    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return fail(L, map, where, "must be a mapping");
    for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(&L->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(&L->doc, p->value);
        const char *k = scalar(kn);
        if (k == NULL) return fail(L, kn, where, "keys must be strings");
        for (q = map->data.mapping.pairs.start; q < p; q++) {
            const char *k2 = scalar(yaml_document_get_node(&L->doc, q->key));
            if (k2 && strcmp(k, k2) == 0) {
                char full[128];
                snprintf(full, sizeof(full), "%s%s%s", where,
                         *where ? "." : "", k);
                return fail(L, kn, full, "duplicate key");
            }
        }
        if (fn(L, k, kn, vn, arg) != 0) return -1;
    }
    return 0;
}

static int erasure_pair(struct loader *L, const char *k, yaml_node_t *kn,
                        yaml_node_t *vn, void *arg)
{
    struct conf *c = arg;
    uint64_t v;
    if (strcmp(k, "data") == 0)
        return get_int(L, vn, "erasure.data", 1, 16, &c->ec_data);
    if (strcmp(k, "parity") == 0)
        return get_int(L, vn, "erasure.parity", 0, 16, &c->ec_parity);
    if (strcmp(k, "block_size") == 0) {
        if (get_size(L, vn, "erasure.block_size", 64 * KIB, 16 * MIB, &v))
            return -1;
        c->stripe_size = (size_t)v;
        return 0;
    }
    return fail(L, kn, "erasure", "unknown key '%s'", k);
}

static int limits_pair(struct loader *L, const char *k, yaml_node_t *kn,
                       yaml_node_t *vn, void *arg)
{
    struct conf *c = arg;
    uint64_t v;
    if (strcmp(k, "max_header_bytes") == 0) {
        if (get_size(L, vn, "limits.max_header_bytes", KIB, MIB, &v))
            return -1;
        c->max_header_bytes = (size_t)v;
        return 0;
    }
    if (strcmp(k, "max_xml_bytes") == 0) {
        if (get_size(L, vn, "limits.max_xml_bytes", KIB, 16 * MIB, &v))
            return -1;
        c->max_xml_bytes = (size_t)v;
        return 0;
    }
    if (strcmp(k, "max_object_size") == 0)
        return get_size(L, vn, "limits.max_object_size", 1, 5 * GIB,
                        &c->max_object_bytes);
    if (strcmp(k, "max_connections") == 0)
        return get_int(L, vn, "limits.max_connections", 1, 1000000,
                       &c->max_connections);
    if (strcmp(k, "idle_timeout") == 0)
        return get_duration(L, vn, "limits.idle_timeout", 1, 86400,
                            &c->idle_timeout_s);
    if (strcmp(k, "header_timeout") == 0)
        return get_duration(L, vn, "limits.header_timeout", 1, 3600,
                            &c->header_timeout_s);
    if (strcmp(k, "body_timeout") == 0)
        return get_duration(L, vn, "limits.body_timeout", 1, 3600,
                            &c->body_timeout_s);
    return fail(L, kn, "limits", "unknown key '%s'", k);
}

struct user_ctx {
    struct conf *c;
    struct conf_user *u;
    char where[64];
};

static int key_chars_ok(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' ||
              *s == '-'))
            return 0;
    return 1;
}

static int user_pair(struct loader *L, const char *k, yaml_node_t *kn,
                     yaml_node_t *vn, void *arg)
{
    struct user_ctx *u = arg;
    char key[96];
    snprintf(key, sizeof(key), "%s.%s", u->where, k);
    if (strcmp(k, "access_key") == 0) {
        size_t n;
        if (get_str(L, vn, key, &u->u->access_key)) return -1;
        n = strlen(u->u->access_key);
        if (n < 3 || n > 128 || !key_chars_ok(u->u->access_key))
            return fail(L, vn, key, "must be 3..128 characters of "
                        "A-Z a-z 0-9 _ . -");
        return 0;
    }
    if (strcmp(k, "secret_key") == 0) {
        size_t n;
        if (get_str(L, vn, key, &u->u->secret_key)) return -1;
        n = strlen(u->u->secret_key);
        if (n < 8 || n > 128) return fail(L, vn, key, "must be 8..128 "
                                          "characters");
        return 0;
    }
    if (strcmp(k, "admin") == 0) return get_bool(L, vn, key, &u->u->admin);
    return fail(L, kn, u->where, "unknown key '%s'", k);
}

static int load_users(struct loader *L, struct conf *c, yaml_node_t *seq)
{
    yaml_node_item_t *it;
    int i, j;

    if (seq->type != YAML_SEQUENCE_NODE)
        return fail(L, seq, "users", "must be a list");
    free_users(c);
    i = (int)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    c->users = calloc((size_t)i + 1, sizeof(*c->users));
    if (c->users == NULL) return fail(L, seq, "users", "out of memory");
    for (it = seq->data.sequence.items.start, i = 0;
         it < seq->data.sequence.items.top; it++, i++) {
        yaml_node_t *n = yaml_document_get_node(&L->doc, *it);
        struct user_ctx u = { c, &c->users[i], "" };
        snprintf(u.where, sizeof(u.where), "users[%d]", i);
        c->nusers = i + 1;
        if (each_pair(L, n, u.where, user_pair, &u)) return -1;
        if (c->users[i].access_key == NULL)
            return fail(L, n, u.where, "access_key is required");
        if (c->users[i].secret_key == NULL)
            return fail(L, n, u.where, "secret_key is required");
        for (j = 0; j < i; j++)
            if (strcmp(c->users[j].access_key, c->users[i].access_key) == 0)
                return fail(L, n, u.where, "access_key '%s' is used twice",
                            c->users[i].access_key);
    }
    return 0;
}

static int load_disks(struct loader *L, struct conf *c, yaml_node_t *seq)
{
    yaml_node_item_t *it;
    int n, i;

    if (seq->type != YAML_SEQUENCE_NODE)
        return fail(L, seq, "disks", "must be a list of directories");
    n = (int)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (n < 1 || n > CONF_MAX_DISKS)
        return fail(L, seq, "disks", "must list 1..%d directories",
                    CONF_MAX_DISKS);
    free_disks(c);
    c->disks = calloc((size_t)n, sizeof(char *));
    if (c->disks == NULL) return fail(L, seq, "disks", "out of memory");
    for (it = seq->data.sequence.items.start, i = 0;
         it < seq->data.sequence.items.top; it++, i++) {
        yaml_node_t *d = yaml_document_get_node(&L->doc, *it);
        char key[32];
        snprintf(key, sizeof(key), "disks[%d]", i);
        c->ndisks = i + 1;
        if (get_str(L, d, key, &c->disks[i])) return -1;
    }
    return 0;
}

static int top_pair(struct loader *L, const char *k, yaml_node_t *kn,
                    yaml_node_t *vn, void *arg)
{
    struct conf *c = arg;
    uint64_t v;
    char host[256];
    int port;

    if (strcmp(k, "listen") == 0 || strcmp(k, "console_listen") == 0) {
        char **f = k[0] == 'l' ? &c->listen : &c->console_listen;
        if (get_str(L, vn, k, f)) return -1;
        if (conf_parse_addr(*f, host, sizeof(host), &port) != 0)
            return fail(L, vn, k, "must be HOST:PORT or [V6]:PORT with a "
                        "port 1..65535, got '%s'", *f);
        return 0;
    }
    if (strcmp(k, "data_dir") == 0) return get_str(L, vn, k, &c->data_dir);
    if (strcmp(k, "meta_dir") == 0) return get_str(L, vn, k, &c->meta_dir);
    if (strcmp(k, "region") == 0) return get_str(L, vn, k, &c->region);
    if (strcmp(k, "domain") == 0) return get_str(L, vn, k, &c->domain);
    if (strcmp(k, "disks") == 0) return load_disks(L, c, vn);
    if (strcmp(k, "users") == 0) return load_users(L, c, vn);
    if (strcmp(k, "erasure") == 0)
        return each_pair(L, vn, "erasure", erasure_pair, c);
    if (strcmp(k, "limits") == 0)
        return each_pair(L, vn, "limits", limits_pair, c);
    if (strcmp(k, "max_threads") == 0)
        return get_int(L, vn, k, 1, 256, &c->max_threads);
    if (strcmp(k, "io_threads") == 0)
        return get_int(L, vn, k, 1, 256, &c->io_threads);
    if (strcmp(k, "buffer_size") == 0) {
        if (get_size(L, vn, k, 16 * KIB, 64 * MIB, &v)) return -1;
        c->buffer_size = (size_t)v;
        return 0;
    }
    if (strcmp(k, "log_level") == 0) {
        const char *s = scalar(vn);
        static const char *const lv[] = { "err", "warn", "notice", "info",
                                          "debug", NULL };
        int i;
        for (i = 0; s && lv[i]; i++)
            if (strcmp(s, lv[i]) == 0) return get_str(L, vn, k, &c->log_level);
        return fail(L, vn, k, "must be one of err, warn, notice, info, "
                    "debug");
    }
    return fail(L, kn, k, "unknown key");
}

enum conf_status conf_load_file(struct conf *c, const char *path, char *err,
                                size_t errlen)
{
    struct loader L;
    yaml_parser_t parser;
    FILE *f;
    yaml_node_t *root;
    int rc;

    memset(&L, 0, sizeof(L));
    L.file = path;
    L.err = err;
    L.errlen = errlen;
    f = fopen(path, "rb");
    if (f == NULL) {
        char e[128];
        snprintf(err, errlen, "%s: %s", path,
                 cf_strerror(errno, e, sizeof(e)));
        return CONF_EIO;
    }
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return CONF_ENOMEM;
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &L.doc)) {
        snprintf(err, errlen, "%s:%zu: %s: %s", path,
                 parser.problem_mark.line + 1, "yaml",
                 parser.problem ? parser.problem : "syntax error");
        yaml_parser_delete(&parser);
        fclose(f);
        return CONF_EINVAL;
    }
    yaml_parser_delete(&parser);
    fclose(f);
    root = yaml_document_get_root_node(&L.doc);
    if (root == NULL) rc = 0; /* an empty file keeps the defaults */
    else rc = each_pair(&L, root, "", top_pair, c);
    yaml_document_delete(&L.doc);
    if (rc != 0) return CONF_EINVAL;
    return conf_set_str(&c->path, path) == CONF_OK ? CONF_OK : CONF_ENOMEM;
}

enum conf_status conf_finalize(struct conf *c, char *err, size_t errlen)
{
    const char *src = c->path ? c->path : "command line";
    char host[256];
    int port, i;

    if (conf_parse_addr(c->listen, host, sizeof(host), &port) != 0) {
        snprintf(err, errlen, "%s: listen: must be HOST:PORT, got '%s'", src,
                 c->listen);
        return CONF_EINVAL;
    }
    if (conf_parse_addr(c->console_listen, host, sizeof(host), &port) != 0) {
        snprintf(err, errlen, "%s: console_listen: must be HOST:PORT, got "
                 "'%s'", src, c->console_listen);
        return CONF_EINVAL;
    }
    if (c->ec_data + c->ec_parity > CONF_MAX_DISKS) {
        snprintf(err, errlen, "%s: erasure: data + parity must be at most "
                 "%d", src, CONF_MAX_DISKS);
        return CONF_EINVAL;
    }
    if (c->stripe_size % (64 * (size_t)c->ec_data) != 0) {
        snprintf(err, errlen, "%s: erasure.block_size: must be a multiple "
                 "of 64 * data (%d)", src, 64 * c->ec_data);
        return CONF_EINVAL;
    }
    if (c->disks == NULL) {
        int n = c->ec_data + c->ec_parity;
        c->disks = calloc((size_t)n, sizeof(char *));
        if (c->disks == NULL) return CONF_ENOMEM;
        for (i = 0; i < n; i++) {
            size_t len = strlen(c->data_dir) + 16;
            c->disks[i] = malloc(len);
            if (c->disks[i] == NULL) return CONF_ENOMEM;
            snprintf(c->disks[i], len, "%s/disk%d", c->data_dir, i + 1);
            c->ndisks = i + 1;
        }
    }
    if (c->ndisks != c->ec_data + c->ec_parity) {
        snprintf(err, errlen, "%s: disks: %d directories listed but "
                 "erasure.data + erasure.parity = %d", src, c->ndisks,
                 c->ec_data + c->ec_parity);
        return CONF_EINVAL;
    }
    if (c->meta_dir == NULL) {
        size_t len = strlen(c->data_dir) + 8;
        c->meta_dir = malloc(len);
        if (c->meta_dir == NULL) return CONF_ENOMEM;
        snprintf(c->meta_dir, len, "%s/meta", c->data_dir);
    }
    if (c->max_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->max_threads = n < 1 ? 1 : n > 256 ? 256 : (int)n;
    }
    return CONF_OK;
}
