/* cmd_user.c: `coffer user add|list|rm|key rotate`, a command line around
 * iam/. On a stopped data directory it opens the catalog itself (list
 * opens it read-only, so it also works beside a running server; changes
 * need the catalog's write lock). Secrets are printed once, by add and key
 * rotate, and never logged. */
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cf.h"
#include "cmd.h"
#include "conf.h"
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
                             u[i].builtin ? "config" : "catalog",
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
               u[i].admin ? "yes" : "no", u[i].builtin ? "config" : "catalog");
}

/* Works on a stopped data directory. */
static int user_offline(const struct uargs *a)
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
    mst = ro ? meta_open_readonly(c.meta_dir, &db) : meta_open(c.meta_dir, &db);
    if (mst != META_OK) {
        fprintf(stderr, "coffer user: cannot open the catalog in %s: %s%s\n",
                c.meta_dir, meta_strerror(mst),
                ro ? "" : " (is a server running on it?)");
        goto out;
    }
    if (!ro) {
        /* the key SSE uses; created 0600 on a new data directory */
        if (cf_master_key_load(c.master_key_file, 1, master) != 0) goto out;
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
    return user_offline(&a);
}
