/* cmd_user.c: `coffer user add|list|rm|key rotate`, a command line around
 * iam/. When a server runs on the data directory (its <data>/admin.sock
 * accepts a connection) the command goes through the admin API; otherwise
 * it opens the catalog itself (list read-only). Secrets are printed once,
 * by add and key rotate, and never logged. */
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cf.h"
#include "cmd.h"
#include "conf.h"
#include "gw.h"
#include "iam.h"
#include "meta.h"

static int user_usage(void)
{
    fprintf(stderr,
            "usage: coffer user add NAME [--admin] [--json] [--data DIR] "
            "[--config FILE]\n"
            "       coffer user list [--json] [--data DIR] [--config FILE]\n"
            "       coffer user rm NAME [--data DIR] [--config FILE]\n"
            "       coffer user key rotate NAME [--json] [--data DIR] "
            "[--config FILE]\n");
    return 2;
}

struct uargs {
    const char *verb;    /* add, list, rm, rotate */
    const char *name;    /* NULL for list */
    const char *data, *config;
    int admin, json;
};

static int parse(int argc, char **argv, struct uargs *a)
{
    int i = 2;
    memset(a, 0, sizeof(*a));
    if (i >= argc) return -1;
    if (strcmp(argv[i], "key") == 0) {
        if (i + 1 >= argc || strcmp(argv[i + 1], "rotate") != 0) return -1;
        a->verb = "rotate";
        i += 2;
    } else {
        a->verb = argv[i++];
        if (strcmp(a->verb, "add") != 0 && strcmp(a->verb, "list") != 0 &&
            strcmp(a->verb, "rm") != 0)
            return -1;
    }
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--admin") == 0 && strcmp(a->verb, "add") == 0)
            a->admin = 1;
        else if (strcmp(argv[i], "--json") == 0) a->json = 1;
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            a->data = argv[++i];
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            a->config = argv[++i];
        else if (argv[i][0] != '-' && a->name == NULL &&
                 strcmp(a->verb, "list") != 0)
            a->name = argv[i];
        else return -1;
    }
    if ((a->name == NULL) != (strcmp(a->verb, "list") == 0)) return -1;
    return 0;
}

static void print_keys(const struct iam_user *u, int json)
{
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "name", u->name,
                              "access_key", u->access_key, "secret_key",
                              u->secret_key);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s) printf("%s\n", s);
        if (s) OPENSSL_cleanse(s, strlen(s));
        free(s);
        json_decref(o);
        return;
    }
    printf("user:       %s%s\naccess key: %s\nsecret key: %s\n"
           "(the secret is shown only now)\n",
           u->name, u->admin ? " (admin)" : "", u->access_key,
           u->secret_key);
}

static void print_list(const struct iam_user *u, size_t n, int json)
{
    size_t i;
    if (json) {
        json_t *a = json_array();
        char *s;
        for (i = 0; i < n; i++)
            json_array_append_new(
                a, json_pack("{s:s, s:s, s:b, s:s, s:I}", "name", u[i].name,
                             "access_key", u[i].access_key, "admin",
                             u[i].admin, "source",
                             u[i].builtin ? "builtin" : "catalog",
                             "created_ms", (json_int_t)u[i].created_ms));
        s = json_dumps(a, JSON_COMPACT);
        if (s) printf("%s\n", s);
        free(s);
        json_decref(a);
        return;
    }
    printf("%-24s %-22s %-5s %s\n", "NAME", "ACCESS KEY", "ADMIN", "SOURCE");
    for (i = 0; i < n; i++)
        printf("%-24s %-22s %-5s %s\n", u[i].name, u[i].access_key,
               u[i].admin ? "yes" : "no", u[i].builtin ? "builtin" : "catalog");
}

#define ADMIN_RESP_MAX (1 << 20)

/* One admin API call over the unix socket: 0 with *status and *body
 * (malloc'ed, NUL-terminated), 1 when no server listens there (go
 * offline), -1 on a broken exchange (reported). */
static int admin_call(const char *sock, const char *method, const char *path,
                      const char *body, int *status, char **out)
{
    struct sockaddr_un sun;
    char head[512], *buf = NULL, *p;
    size_t len = 0, cap = 0, bl = body ? strlen(body) : 0;
    int fd, n;

    *out = NULL;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock) >=
        sizeof(sun.sun_path))
        return 1;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 1;
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        int e = errno;
        close(fd);
        if (e == ENOENT || e == ECONNREFUSED) return 1;
        fprintf(stderr, "coffer user: cannot connect to %s: %s\n", sock,
                strerror(e));
        return -1;
    }
    n = snprintf(head, sizeof(head), "%s /coffer/admin/v1/%s HTTP/1.1\r\n"
                 "Host: localhost\r\nContent-Length: %zu\r\n"
                 "Content-Type: application/json\r\n"
                 "Connection: close\r\n\r\n", method, path, bl);
    if (n < 0 || (size_t)n >= sizeof(head) ||
        write(fd, head, (size_t)n) != n ||
        (bl && write(fd, body, bl) != (ssize_t)bl))
        goto broken;
    for (;;) {
        ssize_t r;
        if (len + 4096 + 1 > cap) {
            char *nb;
            if (cap >= ADMIN_RESP_MAX) goto broken;
            cap = cap ? cap * 2 : 8192;
            nb = realloc(buf, cap);
            if (nb == NULL) goto broken;
            buf = nb;
        }
        r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) goto broken;
        if (r == 0) break;
        len += (size_t)r;
    }
    close(fd);
    fd = -1;
    if (buf == NULL) goto broken;
    buf[len] = '\0';
    if (sscanf(buf, "HTTP/1.1 %d", status) != 1) goto broken;
    p = strstr(buf, "\r\n\r\n");
    if (p == NULL) goto broken;
    *out = strdup(p + 4);
    OPENSSL_cleanse(buf, len);
    free(buf);
    return *out ? 0 : -1;
broken:
    fprintf(stderr, "coffer user: the server's admin socket %s gave no "
            "usable answer\n", sock);
    if (fd >= 0) close(fd);
    if (buf) OPENSSL_cleanse(buf, len);
    free(buf);
    return -1;
}

/* Through a running server; 1 when none runs. */
static int user_online(const struct uargs *a, const char *data_dir)
{
    char sock[4200], path[256], *resp = NULL, *body = NULL;
    const char *method;
    json_t *j = NULL;
    json_error_t je;
    int status = 0, rc;

    snprintf(sock, sizeof(sock), "%s/admin.sock", data_dir);
    if (strcmp(a->verb, "list") == 0) {
        method = "GET";
        snprintf(path, sizeof(path), "users");
    } else if (strcmp(a->verb, "add") == 0) {
        json_t *o = json_pack("{s:s, s:b}", "name", a->name, "admin",
                              a->admin);
        body = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (body == NULL) return -1;
        method = "POST";
        snprintf(path, sizeof(path), "users");
    } else {
        if (!iam_name_valid(a->name)) {
            fprintf(stderr, "coffer user %s: %s: %s\n", a->verb, a->name,
                    iam_strerror(IAM_EINVAL));
            return 2;
        }
        method = strcmp(a->verb, "rm") == 0 ? "DELETE" : "POST";
        snprintf(path, sizeof(path), "users/%s%s", a->name,
                 strcmp(a->verb, "rotate") == 0 ? "/key" : "");
    }
    rc = admin_call(sock, method, path, body, &status, &resp);
    free(body);
    if (rc != 0) return rc > 0 ? 1000 : 1;
    if (resp[0]) j = json_loads(resp, 0, &je);
    if (status >= 300) {
        const char *msg = NULL;
        if (j) json_unpack(j, "{s:s}", "message", &msg);
        fprintf(stderr, "coffer user %s: %s%s%s (HTTP %d)\n", a->verb,
                a->name ? a->name : "", a->name ? ": " : "",
                msg ? msg : "refused", status);
        rc = status == 400 ? 2 : 1;
    } else if (strcmp(a->verb, "rm") == 0) {
        if (!a->json) printf("removed user %s\n", a->name);
        rc = 0;
    } else if (j == NULL) {
        fprintf(stderr, "coffer user: the server's answer is not JSON\n");
        rc = 1;
    } else if (strcmp(a->verb, "list") == 0) {
        json_t *arr = json_object_get(j, "users"), *x;
        struct iam_user *u = calloc(json_array_size(arr) + 1, sizeof(*u));
        size_t i, n = 0;
        if (u == NULL) rc = 1;
        else {
            json_array_foreach(arr, i, x) {
                const char *nm = "", *ak = "", *src = "";
                int adm = 0;
                json_int_t cr = 0;
                json_unpack(x, "{s:s, s:s, s:b, s:s, s:I}", "name", &nm,
                            "access_key", &ak, "admin", &adm, "source", &src,
                            "created_ms", &cr);
                snprintf(u[n].name, sizeof(u[n].name), "%s", nm);
                snprintf(u[n].access_key, sizeof(u[n].access_key), "%s", ak);
                u[n].admin = adm;
                u[n].builtin = strcmp(src, "builtin") == 0;
                u[n].created_ms = (int64_t)cr;
                n++;
            }
            print_list(u, n, a->json);
            free(u);
            rc = 0;
        }
    } else {
        struct iam_user u;
        const char *nm = "", *ak = "", *sk = "";
        int adm = 0;
        memset(&u, 0, sizeof(u));
        json_unpack(j, "{s:s, s:s, s:s, s?b}", "name", &nm, "access_key",
                    &ak, "secret_key", &sk, "admin", &adm);
        snprintf(u.name, sizeof(u.name), "%s", nm);
        snprintf(u.access_key, sizeof(u.access_key), "%s", ak);
        snprintf(u.secret_key, sizeof(u.secret_key), "%s", sk);
        u.admin = adm;
        print_keys(&u, a->json);
        OPENSSL_cleanse(&u, sizeof(u));
        rc = 0;
    }
    json_decref(j);
    OPENSSL_cleanse(resp, strlen(resp));
    free(resp);
    return rc;
}

/* Through the running server's admin socket, else on the stopped data
 * directory. */
static int user_run(const struct uargs *a)
{
    struct conf c;
    char err[CONF_ERR_MAX];
    struct meta_db *db = NULL;
    struct iam *iam = NULL;
    struct iam_user u, *list = NULL;
    unsigned char master[CF_KEY_LEN];
    int have_master = 0, rc = 1, i, ro = strcmp(a->verb, "list") == 0;
    enum meta_status mst;
    enum iam_status st;
    size_t n = 0;

    memset(&u, 0, sizeof(u));
    if (conf_init_defaults(&c) != CONF_OK) return 1;
    if (a->config && conf_load_file(&c, a->config, err, sizeof(err)) !=
                         CONF_OK) {
        fprintf(stderr, "coffer: %s\n", err);
        goto out;
    }
    if (a->data && conf_set_str(&c.data_dir, a->data) != CONF_OK) goto out;
    if (conf_finalize(&c, err, sizeof(err)) != CONF_OK) {
        fprintf(stderr, "coffer: %s\n", err);
        goto out;
    }
    rc = user_online(a, c.data_dir);
    if (rc != 1000) goto out; /* a server answered (or failed to) */
    rc = 1;
    mst = ro ? meta_open_readonly(c.meta_dir, &db) : meta_open(c.meta_dir, &db);
    if (mst != META_OK) {
        fprintf(stderr, "coffer user: cannot open the catalog in %s: %s%s\n",
                c.meta_dir, meta_strerror(mst),
                ro ? "" : " (is a server running on it?)");
        goto out;
    }
    if (!ro) {
        /* the key SSE uses; created 0600 on a new data directory */
        if (gw_master_key_load(&c, 1, master) != 0) goto out;
        have_master = 1;
    }
    st = iam_open(db, have_master ? master : NULL, &iam);
    if (st != IAM_OK) {
        fprintf(stderr, "coffer user: %s\n", iam_strerror(st));
        goto out;
    }
    for (i = 0; i < c.nusers; i++)
        if (iam_add_builtin(iam, c.users[i].access_key, c.users[i].secret_key,
                            c.users[i].admin) != IAM_OK) {
            fprintf(stderr, "coffer user: configuration user %s clashes "
                    "with a catalog user\n", c.users[i].access_key);
            goto out;
        }
    if (strcmp(a->verb, "add") == 0)
        st = iam_user_add(iam, a->name, a->admin, "cli", &u);
    else if (strcmp(a->verb, "rotate") == 0)
        st = iam_key_rotate(iam, a->name, "cli", &u);
    else if (strcmp(a->verb, "rm") == 0)
        st = iam_user_rm(iam, a->name, "cli");
    else
        st = iam_user_list(iam, &list, &n);
    if (st != IAM_OK) {
        fprintf(stderr, "coffer user %s: %s%s%s\n", a->verb,
                a->name ? a->name : "", a->name ? ": " : "",
                iam_strerror(st));
        rc = st == IAM_EINVAL ? 2 : 1;
        goto out;
    }
    if (strcmp(a->verb, "list") == 0) print_list(list, n, a->json);
    else if (strcmp(a->verb, "rm") == 0) {
        if (!a->json) printf("removed user %s\n", a->name);
    } else print_keys(&u, a->json);
    rc = 0;
out:
    OPENSSL_cleanse(&u, sizeof(u));
    if (have_master) OPENSSL_cleanse(master, sizeof(master));
    free(list);
    iam_free(iam);
    meta_close(db);
    conf_cleanup(&c);
    return rc;
}

int cmd_user(int argc, char **argv)
{
    struct uargs a;
    if (parse(argc, argv, &a) != 0) return user_usage();
    return user_run(&a);
}
