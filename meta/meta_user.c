/* meta_user.c: the user records of iam/ (N/<name>), opaque to meta: iam
 * chooses their encoding (and keeps secrets in them only wrapped under the
 * master key). Every change is one synced write; with an audit event, the
 * change and its A/ entry commit in one batch (meta_audit_commit).
 *
 * Invariant: the name is the whole key after "N/", 1..META_USER_NAME_MAX
 * bytes without NUL, so "N/" is a prefix of exactly the user records. */
#include "meta.h"
#include "meta_int.h"
#include "cf.h"

#include <stdlib.h>
#include <string.h>

static int user_key(const char *name, char *k, size_t cap)
{
    size_t n = strlen(name);
    if (n == 0 || n > META_USER_NAME_MAX || n + 3 > cap) return -1;
    memcpy(k, "N/", 2);
    memcpy(k + 2, name, n + 1);
    return (int)(n + 2);
}

enum meta_status meta_user_get(struct meta_db *m, const char *name,
                               char **value, size_t *len)
{
    char k[META_USER_NAME_MAX + 3], *err = NULL, *v;
    size_t vl = 0;
    int kl = user_key(name, k, sizeof(k));

    *value = NULL;
    if (len) *len = 0;
    if (kl < 0) return META_EINVAL;
    v = rocksdb_get(m->db, m->ropts, k, (size_t)kl, &vl, &err);
    if (err) return meta_err(err, "get user");
    if (v == NULL) return META_ENOTFOUND;
    *value = malloc(vl + 1);
    if (*value == NULL) {
        rocksdb_free(v);
        return META_ENOMEM;
    }
    memcpy(*value, v, vl);
    (*value)[vl] = '\0';
    if (len) *len = vl;
    rocksdb_free(v);
    return META_OK;
}

/* value NULL: delete. */
static enum meta_status user_write(struct meta_db *m, const char *name,
                                   const char *value, size_t len,
                                   int64_t time_ms, const char *event)
{
    char k[META_USER_NAME_MAX + 3];
    int kl = user_key(name, k, sizeof(k));
    rocksdb_writebatch_t *wb;
    enum meta_status st;

    if (kl < 0 || len > META_USER_MAX_BYTES) return META_EINVAL;
    if (m->readonly) return META_EIO;
    wb = rocksdb_writebatch_create();
    if (wb == NULL) return META_ENOMEM;
    if (value) rocksdb_writebatch_put(wb, k, (size_t)kl, value, len);
    else rocksdb_writebatch_delete(wb, k, (size_t)kl);
    st = event ? meta_audit_commit(m, wb, time_ms, event)
               : meta_write(m, wb, "user");
    rocksdb_writebatch_destroy(wb);
    return st;
}

enum meta_status meta_user_put(struct meta_db *m, const char *name,
                               const char *value, size_t len,
                               int64_t time_ms, const char *event)
{
    if (value == NULL) return META_EINVAL;
    return user_write(m, name, value, len, time_ms, event);
}

enum meta_status meta_user_delete(struct meta_db *m, const char *name,
                                  int64_t time_ms, const char *event)
{
    char *v = NULL;
    enum meta_status st = meta_user_get(m, name, &v, NULL);
    free(v);
    if (st != META_OK) return st;
    return user_write(m, name, NULL, 0, time_ms, event);
}

enum meta_status meta_user_foreach(struct meta_db *m, meta_user_fn fn,
                                   void *arg)
{
    struct meta_iter mi;
    rocksdb_iterator_t *it;
    enum meta_status st, ist;

    st = meta_iter_open(m, &mi, NULL, "N/", 2);
    if (st != META_OK) return st;
    it = mi.it;
    for (rocksdb_iter_seek(it, "N/", 2); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        char name[META_USER_NAME_MAX + 1];
        if (kl < 3 || kl - 2 > META_USER_NAME_MAX) {
            cf_log(CF_LOG_ERR, "meta: a user key of %zu bytes is corrupt",
                   kl);
            st = META_ECORRUPT;
            break;
        }
        memcpy(name, k + 2, kl - 2);
        name[kl - 2] = '\0';
        if (fn(name, v, vl, arg) != 0) break;
    }
    ist = meta_iter_err(it, "list users");
    if (st == META_OK) st = ist;
    meta_iter_close(&mi);
    return st;
}
