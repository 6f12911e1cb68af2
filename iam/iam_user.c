/* iam_user.c: the user directory (see iam.h).
 *
 * N rec (value of N/<name>, JSON, one object):
 *   "v"          1 (format; a reader meeting another number fails)
 *   "access_key" the access key (not secret)
 *   "secret"     hex of the 32-byte secret seed wrapped by cf_key_wrap()
 *                under the master key, aad = "coffer-iam-secret-1|" name
 *                "|" access_key (so a record copied onto another user, or
 *                given another key, does not unwrap)
 *   "admin"      true / false
 *   "created_ms" wall clock at creation
 * The secret the client uses is the first IAM_SK_LEN characters of the
 * seed's standard base64 (240 bits), derived again at each load.
 *
 * Invariants: the table holds built-in users first, then catalog users;
 * no two entries share an access key or a principal name. `mu` serialises
 * changes (held across the synced catalog write, which must not hold up
 * lookups); `rw` guards the table, taken for writing only to swap an entry
 * in or out. Secrets live only in the table (wiped on free) and in the
 * out-structs callers asked for. */
#include "iam.h"
#include "cf.h"
#include "meta.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AAD_PREFIX "coffer-iam-secret-1|"
#define AK_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

struct iam {
    struct meta_db *db;             /* borrowed */
    unsigned char master[CF_KEY_LEN];
    int have_master;
    pthread_mutex_t mu;             /* serialises changes */
    pthread_rwlock_t rw;            /* guards users / n / cap */
    struct iam_user *users;
    size_t n, cap;
};

const char *iam_strerror(enum iam_status st)
{
    switch (st) {
    case IAM_OK: return "ok";
    case IAM_EINVAL: return "invalid argument";
    case IAM_ENOTFOUND: return "no such user";
    case IAM_EEXIST: return "user already exists";
    case IAM_EBUILTIN: return "root and configuration-file users cannot be "
                              "changed here";
    case IAM_EIO: return "catalog error";
    case IAM_EKEY: return "a secret does not unwrap with this master key";
    case IAM_ENOMEM: return "out of memory";
    }
    return "unknown error";
}

int iam_name_valid(const char *name)
{
    size_t n = strlen(name);
    static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                             "vwxyz0123456789+=,.@_-";
    return n >= 1 && n <= IAM_NAME_MAX && strspn(name, ok) == n;
}

static void aad_of(const char *name, const char *ak, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s|%s", AAD_PREFIX, name, ak);
}

static void secret_from_seed(const unsigned char seed[CF_KEY_LEN],
                             char out[IAM_KEY_MAX + 1])
{
    char b64[4 * ((CF_KEY_LEN + 2) / 3) + 1];
    cf_base64_encode(seed, CF_KEY_LEN, b64);
    memcpy(out, b64, IAM_SK_LEN);
    out[IAM_SK_LEN] = '\0';
    OPENSSL_cleanse(b64, sizeof(b64));
}

static void new_access_key(char out[IAM_KEY_MAX + 1])
{
    unsigned char r[IAM_AK_LEN];
    size_t i;
    cf_random_bytes(r, sizeof(r));
    memcpy(out, "CK", 2); /* coffer key, like AWS's "AKIA" */
    for (i = 2; i < IAM_AK_LEN; i++) out[i] = AK_ALPHABET[r[i] % 32];
    out[IAM_AK_LEN] = '\0';
}

/* ---- the table (rw held by the caller) ---- */

static struct iam_user *find_ak(struct iam *iam, const char *ak)
{
    size_t i;
    for (i = 0; i < iam->n; i++)
        if (strcmp(iam->users[i].access_key, ak) == 0) return &iam->users[i];
    return NULL;
}

static struct iam_user *find_name(struct iam *iam, const char *name)
{
    size_t i;
    for (i = 0; i < iam->n; i++)
        if (strcmp(iam->users[i].name, name) == 0) return &iam->users[i];
    return NULL;
}

static int table_add(struct iam *iam, const struct iam_user *u)
{
    if (iam->n == iam->cap) {
        size_t cap = iam->cap ? iam->cap * 2 : 8;
        struct iam_user *p = calloc(cap, sizeof(*p));
        if (p == NULL) return -1;
        if (iam->n) memcpy(p, iam->users, iam->n * sizeof(*p));
        OPENSSL_cleanse(iam->users, iam->cap * sizeof(*p));
        free(iam->users);
        iam->users = p;
        iam->cap = cap;
    }
    iam->users[iam->n++] = *u;
    return 0;
}

static void table_remove(struct iam *iam, struct iam_user *u)
{
    size_t i = (size_t)(u - iam->users);
    memmove(u, u + 1, (iam->n - i - 1) * sizeof(*u));
    iam->n--;
    OPENSSL_cleanse(&iam->users[iam->n], sizeof(*u));
}

/* ---- records ---- */

static char *record_encode(const struct iam_user *u,
                           const unsigned char wrapped[CF_KEY_WRAPPED])
{
    char hex[2 * CF_KEY_WRAPPED + 1];
    json_t *o = json_object();
    char *s;
    if (o == NULL) return NULL;
    cf_hex_encode(wrapped, CF_KEY_WRAPPED, hex);
    json_object_set_new(o, "v", json_integer(1));
    json_object_set_new(o, "access_key", json_string(u->access_key));
    json_object_set_new(o, "secret", json_string(hex));
    json_object_set_new(o, "admin", json_boolean(u->admin));
    json_object_set_new(o, "created_ms", json_integer(u->created_ms));
    s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

/* Decodes one N rec; the secret is filled only when master is set (and
 * the seed into seed_out, when not NULL). */
static enum iam_status record_decode_seed(const char *name, const char *v,
                                          size_t vl,
                                          const unsigned char *master,
                                          struct iam_user *u,
                                          unsigned char *seed_out, int quiet)
{
    json_error_t je;
    json_t *o = json_loadb(v, vl, 0, &je);
    const char *ak = NULL, *sec = NULL;
    json_int_t ver = 0, created = 0;
    int admin = 0;
    unsigned char wrapped[CF_KEY_WRAPPED], seed[CF_KEY_LEN];
    char aad[sizeof(AAD_PREFIX) + IAM_NAME_MAX + IAM_KEY_MAX + 2];

    memset(u, 0, sizeof(*u));
    if (o == NULL ||
        json_unpack(o, "{s:I, s:s, s:s, s:b, s:I}", "v", &ver, "access_key",
                    &ak, "secret", &sec, "admin", &admin, "created_ms",
                    &created) != 0 ||
        ver != 1 || strlen(ak) == 0 || strlen(ak) > IAM_KEY_MAX ||
        strlen(sec) != 2 * CF_KEY_WRAPPED ||
        cf_hex_decode(sec, 2 * CF_KEY_WRAPPED, wrapped, CF_KEY_WRAPPED) != 0 ||
        !iam_name_valid(name)) {
        cf_log(CF_LOG_ERR, "iam: the record of user %s is corrupt", name);
        json_decref(o);
        return IAM_EIO;
    }
    snprintf(u->name, sizeof(u->name), "%s", name);
    snprintf(u->access_key, sizeof(u->access_key), "%s", ak);
    u->admin = admin;
    u->created_ms = (int64_t)created;
    json_decref(o);
    if (master == NULL) return IAM_OK;
    aad_of(u->name, u->access_key, aad, sizeof(aad));
    if (cf_key_unwrap(master, wrapped, CF_KEY_WRAPPED, aad, seed) != 0) {
        if (!quiet)
            cf_log(CF_LOG_ERR, "iam: the secret of user %s does not unwrap "
                   "with this master key", name);
        return IAM_EKEY;
    }
    secret_from_seed(seed, u->secret_key);
    if (seed_out) memcpy(seed_out, seed, CF_KEY_LEN);
    OPENSSL_cleanse(seed, sizeof(seed));
    return IAM_OK;
}

static enum iam_status record_decode(const char *name, const char *v,
                                     size_t vl, const unsigned char *master,
                                     struct iam_user *u)
{
    return record_decode_seed(name, v, vl, master, u, NULL, 0);
}

struct load_ctx {
    struct iam *iam;
    enum iam_status st;
};

static int load_one(const char *name, const char *v, size_t vl, void *arg)
{
    struct load_ctx *c = arg;
    struct iam_user u;
    c->st = record_decode(name, v, vl,
                          c->iam->have_master ? c->iam->master : NULL, &u);
    if (c->st == IAM_OK && table_add(c->iam, &u) != 0) c->st = IAM_ENOMEM;
    OPENSSL_cleanse(&u, sizeof(u));
    return c->st != IAM_OK;
}

enum iam_status iam_open(struct meta_db *db, const unsigned char *master,
                         struct iam **out)
{
    struct iam *iam = calloc(1, sizeof(*iam));
    struct load_ctx c = { iam, IAM_OK };
    enum meta_status mst;

    *out = NULL;
    if (iam == NULL) return IAM_ENOMEM;
    iam->db = db;
    if (master) {
        memcpy(iam->master, master, CF_KEY_LEN);
        iam->have_master = 1;
    }
    pthread_mutex_init(&iam->mu, NULL);
    pthread_rwlock_init(&iam->rw, NULL);
    mst = meta_user_foreach(db, load_one, &c);
    if (mst != META_OK && c.st == IAM_OK) c.st = IAM_EIO;
    if (c.st != IAM_OK) {
        iam_free(iam);
        return c.st;
    }
    *out = iam;
    return IAM_OK;
}

void iam_free(struct iam *iam)
{
    if (iam == NULL) return;
    if (iam->users) OPENSSL_cleanse(iam->users, iam->cap * sizeof(*iam->users));
    free(iam->users);
    OPENSSL_cleanse(iam->master, sizeof(iam->master));
    pthread_rwlock_destroy(&iam->rw);
    pthread_mutex_destroy(&iam->mu);
    free(iam);
}

enum iam_status iam_add_builtin(struct iam *iam, const char *access_key,
                                const char *secret_key, int admin)
{
    struct iam_user u;
    enum iam_status st = IAM_OK;

    if (strlen(access_key) == 0 || strlen(access_key) > IAM_NAME_MAX ||
        strlen(secret_key) == 0 || strlen(secret_key) > IAM_KEY_MAX)
        return IAM_EINVAL;
    memset(&u, 0, sizeof(u));
    snprintf(u.name, sizeof(u.name), "%s", access_key);
    snprintf(u.access_key, sizeof(u.access_key), "%s", access_key);
    snprintf(u.secret_key, sizeof(u.secret_key), "%s", secret_key);
    u.admin = admin;
    u.builtin = 1;
    pthread_mutex_lock(&iam->mu);
    pthread_rwlock_wrlock(&iam->rw);
    if (find_ak(iam, access_key) || find_name(iam, access_key)) {
        cf_log(CF_LOG_ERR, "iam: access key %s is also a user's access key "
               "or name", access_key);
        st = IAM_EEXIST;
    } else if (table_add(iam, &u) != 0) {
        st = IAM_ENOMEM;
    } else {
        /* built-in users first: move the new one before catalog users */
        size_t i = iam->n - 1;
        while (i > 0 && !iam->users[i - 1].builtin) {
            struct iam_user t = iam->users[i - 1];
            iam->users[i - 1] = iam->users[i];
            iam->users[i] = t;
            OPENSSL_cleanse(&t, sizeof(t));
            i--;
        }
    }
    pthread_rwlock_unlock(&iam->rw);
    pthread_mutex_unlock(&iam->mu);
    OPENSSL_cleanse(&u, sizeof(u));
    return st;
}

static char *audit_event(const char *what, const char *name, int admin,
                         const char *ak, const char *by)
{
    json_t *o = json_object();
    char *s;
    if (o == NULL) return NULL;
    json_object_set_new(o, "event", json_string(what));
    json_object_set_new(o, "user", json_string(name));
    if (admin >= 0) json_object_set_new(o, "admin", json_boolean(admin));
    if (ak) json_object_set_new(o, "access_key", json_string(ak));
    json_object_set_new(o, "by", json_string(by ? by : ""));
    s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

/* New credentials for u (name and admin set): a fresh access key unique in
 * the table, a secret, and the catalog record. mu held. */
static enum iam_status fresh_keys(struct iam *iam, struct iam_user *u,
                                  char **rec)
{
    unsigned char seed[CF_KEY_LEN], wrapped[CF_KEY_WRAPPED];
    char aad[sizeof(AAD_PREFIX) + IAM_NAME_MAX + IAM_KEY_MAX + 2];
    int tries = 0, taken;

    do {
        new_access_key(u->access_key);
        pthread_rwlock_rdlock(&iam->rw);
        taken = find_ak(iam, u->access_key) != NULL ||
                find_name(iam, u->access_key) != NULL;
        pthread_rwlock_unlock(&iam->rw);
    } while (taken && ++tries < 8);
    if (taken) return IAM_EEXIST;
    cf_random_bytes(seed, sizeof(seed));
    aad_of(u->name, u->access_key, aad, sizeof(aad));
    if (cf_key_wrap(iam->master, seed, aad, wrapped) != 0) {
        OPENSSL_cleanse(seed, sizeof(seed));
        cf_log(CF_LOG_ERR, "iam: cannot wrap a secret");
        return IAM_EIO;
    }
    secret_from_seed(seed, u->secret_key);
    OPENSSL_cleanse(seed, sizeof(seed));
    *rec = record_encode(u, wrapped);
    return *rec ? IAM_OK : IAM_ENOMEM;
}

enum iam_status iam_user_add(struct iam *iam, const char *name, int admin,
                             const char *by, struct iam_user *out)
{
    struct iam_user u;
    char *rec = NULL, *ev = NULL;
    enum iam_status st;
    enum meta_status mst;
    int taken;

    memset(out, 0, sizeof(*out));
    if (!iam_name_valid(name)) return IAM_EINVAL;
    if (!iam->have_master) return IAM_EKEY;
    memset(&u, 0, sizeof(u));
    snprintf(u.name, sizeof(u.name), "%s", name);
    u.admin = admin ? 1 : 0;
    u.created_ms = cf_now_ms();
    pthread_mutex_lock(&iam->mu);
    pthread_rwlock_rdlock(&iam->rw);
    taken = find_name(iam, name) != NULL || find_ak(iam, name) != NULL;
    pthread_rwlock_unlock(&iam->rw);
    if (taken) {
        st = IAM_EEXIST;
        goto out;
    }
    {
        /* another process (a stopped-directory CLI run) may have added it */
        char *v = NULL;
        mst = meta_user_get(iam->db, name, &v, NULL);
        free(v);
        if (mst == META_OK) {
            st = IAM_EEXIST;
            goto out;
        }
        if (mst != META_ENOTFOUND) {
            st = IAM_EIO;
            goto out;
        }
    }
    st = fresh_keys(iam, &u, &rec);
    if (st != IAM_OK) goto out;
    ev = audit_event("user-add", name, u.admin, u.access_key, by);
    if (ev == NULL) {
        st = IAM_ENOMEM;
        goto out;
    }
    mst = meta_user_put(iam->db, name, rec, strlen(rec), cf_now_ms(), ev);
    if (mst != META_OK) {
        st = mst == META_ENOMEM ? IAM_ENOMEM : IAM_EIO;
        goto out;
    }
    pthread_rwlock_wrlock(&iam->rw);
    if (table_add(iam, &u) != 0) st = IAM_ENOMEM; /* stored; next start */
    pthread_rwlock_unlock(&iam->rw);
    *out = u;
out:
    pthread_mutex_unlock(&iam->mu);
    OPENSSL_cleanse(&u, sizeof(u));
    if (rec) OPENSSL_cleanse(rec, strlen(rec));
    free(rec);
    free(ev);
    return st;
}

enum iam_status iam_user_rm(struct iam *iam, const char *name,
                            const char *by)
{
    struct iam_user *u;
    char *ev = NULL;
    enum iam_status st = IAM_OK;
    enum meta_status mst;
    int builtin = 0;

    if (!iam_name_valid(name)) return IAM_EINVAL;
    pthread_mutex_lock(&iam->mu);
    pthread_rwlock_rdlock(&iam->rw);
    u = find_name(iam, name);
    if (u) builtin = u->builtin;
    pthread_rwlock_unlock(&iam->rw);
    if (builtin) {
        st = IAM_EBUILTIN;
        goto out;
    }
    ev = audit_event("user-rm", name, -1, NULL, by);
    if (ev == NULL) {
        st = IAM_ENOMEM;
        goto out;
    }
    mst = meta_user_delete(iam->db, name, cf_now_ms(), ev);
    if (mst == META_ENOTFOUND) st = IAM_ENOTFOUND;
    else if (mst != META_OK) st = IAM_EIO;
    if (st != IAM_OK) goto out;
    pthread_rwlock_wrlock(&iam->rw);
    u = find_name(iam, name);
    if (u) table_remove(iam, u);
    pthread_rwlock_unlock(&iam->rw);
out:
    pthread_mutex_unlock(&iam->mu);
    free(ev);
    return st;
}

enum iam_status iam_key_rotate(struct iam *iam, const char *name,
                               const char *by, struct iam_user *out)
{
    struct iam_user u, *cur;
    char *rec = NULL, *ev = NULL, *v = NULL;
    enum iam_status st;
    enum meta_status mst;
    size_t vl;

    memset(out, 0, sizeof(*out));
    if (!iam_name_valid(name)) return IAM_EINVAL;
    if (!iam->have_master) return IAM_EKEY;
    pthread_mutex_lock(&iam->mu);
    pthread_rwlock_rdlock(&iam->rw);
    cur = find_name(iam, name);
    st = cur && cur->builtin ? IAM_EBUILTIN : IAM_OK;
    pthread_rwlock_unlock(&iam->rw);
    if (st != IAM_OK) goto out;
    /* the catalog's record is the truth (admin flag, creation time) */
    mst = meta_user_get(iam->db, name, &v, &vl);
    if (mst != META_OK) {
        st = mst == META_ENOTFOUND ? IAM_ENOTFOUND : IAM_EIO;
        goto out;
    }
    st = record_decode(name, v, vl, NULL, &u);
    if (st != IAM_OK) goto out;
    st = fresh_keys(iam, &u, &rec);
    if (st != IAM_OK) goto out;
    ev = audit_event("user-key-rotate", name, -1, u.access_key, by);
    if (ev == NULL) {
        st = IAM_ENOMEM;
        goto out;
    }
    mst = meta_user_put(iam->db, name, rec, strlen(rec), cf_now_ms(), ev);
    if (mst != META_OK) {
        st = IAM_EIO;
        goto out;
    }
    pthread_rwlock_wrlock(&iam->rw);
    cur = find_name(iam, name);
    if (cur) *cur = u;
    else if (table_add(iam, &u) != 0) st = IAM_ENOMEM;
    pthread_rwlock_unlock(&iam->rw);
    *out = u;
out:
    pthread_mutex_unlock(&iam->mu);
    OPENSSL_cleanse(&u, sizeof(u));
    if (rec) OPENSSL_cleanse(rec, strlen(rec));
    free(rec);
    free(v);
    free(ev);
    return st;
}

enum iam_status iam_user_list(struct iam *iam, struct iam_user **out,
                              size_t *n)
{
    size_t i;
    *out = NULL;
    *n = 0;
    pthread_rwlock_rdlock(&iam->rw);
    if (iam->n) {
        *out = calloc(iam->n, sizeof(**out));
        if (*out == NULL) {
            pthread_rwlock_unlock(&iam->rw);
            return IAM_ENOMEM;
        }
        for (i = 0; i < iam->n; i++) {
            (*out)[i] = iam->users[i];
            OPENSSL_cleanse((*out)[i].secret_key,
                            sizeof((*out)[i].secret_key));
            (*out)[i].secret_key[0] = '\0';
        }
        *n = iam->n;
    }
    pthread_rwlock_unlock(&iam->rw);
    return IAM_OK;
}

int iam_lookup(struct iam *iam, const char *access_key, struct iam_user *out)
{
    struct iam_user *u;
    int found = 0;
    pthread_rwlock_rdlock(&iam->rw);
    u = find_ak(iam, access_key);
    if (u && u->secret_key[0]) {
        *out = *u;
        found = 1;
    }
    pthread_rwlock_unlock(&iam->rw);
    return found;
}

int iam_lookup_name(struct iam *iam, const char *name, struct iam_user *out)
{
    struct iam_user *u;
    int found = 0;
    pthread_rwlock_rdlock(&iam->rw);
    u = find_name(iam, name);
    if (u) {
        *out = *u;
        out->secret_key[0] = '\0';
        found = 1;
    }
    pthread_rwlock_unlock(&iam->rw);
    return found;
}

/* ---- master key rotation ---- */

struct names_ctx {
    char (*v)[IAM_NAME_MAX + 1];
    size_t n, cap;
    int oom;
};

static int collect_name(const char *name, const char *v, size_t vl,
                        void *arg)
{
    struct names_ctx *c = arg;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        void *p = realloc(c->v, cap * sizeof(*c->v));
        if (p == NULL) {
            c->oom = 1;
            return 1;
        }
        c->v = p;
        c->cap = cap;
    }
    snprintf(c->v[c->n++], sizeof(c->v[0]), "%s", name);
    return 0;
}

enum iam_status iam_rewrap(struct meta_db *db,
                           const unsigned char old_key[32],
                           const unsigned char new_key[32],
                           size_t *rewrapped, size_t *current)
{
    struct names_ctx names = { NULL, 0, 0, 0 };
    enum iam_status st = IAM_OK;
    size_t i;

    *rewrapped = *current = 0;
    if (meta_user_foreach(db, collect_name, &names) != META_OK) st = IAM_EIO;
    if (names.oom) st = IAM_ENOMEM;
    for (i = 0; st == IAM_OK && i < names.n; i++) {
        const char *name = names.v[i];
        char *v = NULL, *rec = NULL;
        size_t vl = 0;
        struct iam_user u;
        unsigned char seed[CF_KEY_LEN], wrapped[CF_KEY_WRAPPED];
        char aad[sizeof(AAD_PREFIX) + IAM_NAME_MAX + IAM_KEY_MAX + 2];

        if (meta_user_get(db, name, &v, &vl) != META_OK) {
            st = IAM_EIO;
            break;
        }
        if (record_decode_seed(name, v, vl, new_key, &u, seed, 1) == IAM_OK) {
            (*current)++; /* done by an earlier, interrupted run */
        } else if ((st = record_decode_seed(name, v, vl, old_key, &u, seed,
                                            0)) == IAM_OK) {
            aad_of(u.name, u.access_key, aad, sizeof(aad));
            if (cf_key_wrap(new_key, seed, aad, wrapped) != 0) st = IAM_EIO;
            else if ((rec = record_encode(&u, wrapped)) == NULL)
                st = IAM_ENOMEM;
            else if (meta_user_put(db, name, rec, strlen(rec), 0, NULL) !=
                     META_OK)
                st = IAM_EIO;
            else
                (*rewrapped)++;
        }
        OPENSSL_cleanse(seed, sizeof(seed));
        OPENSSL_cleanse(&u, sizeof(u));
        if (rec) OPENSSL_cleanse(rec, strlen(rec));
        free(rec);
        free(v);
    }
    free(names.v);
    return st;
}
