/* gw_admin.c: the admin API, JSON over HTTP, on <data>/admin.sock (whoever
 * may open the socket administers: mode 0600 and the peer's uid checked
 * at accept) and under /coffer/admin/v1/ on the S3 port (SigV4, admin
 * users only; a valid signature of a non-admin user gets 403).
 *
 *   GET    /coffer/admin/v1/users              200 {"users": [...]}
 *   POST   /coffer/admin/v1/users              {"name", "admin"?}
 *                                              200 {"name", "access_key",
 *                                                   "secret_key", "admin"}
 *   DELETE /coffer/admin/v1/users/<name>       204
 *   POST   /coffer/admin/v1/users/<name>/key   200 (a new key pair)
 *
 * Errors: {"error": code, "message": text} with 400 InvalidArgument, 403
 * AccessDenied, 404 NoSuchUser / NotFound, 405 MethodNotAllowed, 409
 * UserAlreadyExists / BuiltinUser, 500 InternalError.
 *
 * Every call, refused ones included, is written to the audit log
 * ("admin-call": method, path, by, status, from; an unauthenticated one
 * also the access key it named, and at most
 * GW_ADMIN_REFUSALS_AUDITED_PER_S of those a second, the next entry
 * counting the ones left out); user changes also carry iam's
 * own entry, committed with the change. Secrets appear only in the
 * response to the caller that created them, never in a log or an audit
 * entry. */
#include "gw_int.h"
#include "ol.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reply(struct gw_req *req, int status, json_t *body)
{
    char *s = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    req->resp.status = status;
    if (s) {
        gw_xbuf_str(&req->resp.body, s);
        req->resp.content_type = "application/json";
        OPENSSL_cleanse(s, strlen(s)); /* may hold a secret */
        free(s);
    }
    json_decref(body);
    if (req->resp.body.oom) gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
}

static void reply_err(struct gw_req *req, int status, const char *code,
                      const char *msg)
{
    reply(req, status, json_pack("{s:s, s:s}", "error", code, "message",
                                 msg));
}

static void reply_iam(struct gw_req *req, enum iam_status st)
{
    switch (st) {
    case IAM_OK: break;
    case IAM_EINVAL:
        reply_err(req, 400, "InvalidArgument", "user names are 1..64 of "
                  "A-Z a-z 0-9 + = , . @ _ -");
        return;
    case IAM_ENOTFOUND:
        reply_err(req, 404, "NoSuchUser", iam_strerror(st));
        return;
    case IAM_EEXIST:
        reply_err(req, 409, "UserAlreadyExists", iam_strerror(st));
        return;
    case IAM_EBUILTIN:
        reply_err(req, 409, "BuiltinUser", iam_strerror(st));
        return;
    default:
        reply_err(req, 500, "InternalError", iam_strerror(st));
        return;
    }
}

static json_t *keys_json(const struct iam_user *u)
{
    return json_pack("{s:s, s:s, s:s, s:b}", "name", u->name, "access_key",
                     u->access_key, "secret_key", u->secret_key, "admin",
                     u->admin);
}

static void list_users(struct gw_req *req)
{
    struct iam_user *u = NULL;
    size_t n = 0, i;
    json_t *arr;
    enum iam_status st = iam_user_list(req->srv->iam, &u, &n);

    if (st != IAM_OK) {
        reply_iam(req, st);
        return;
    }
    arr = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:b, s:s, s:I}", "name", u[i].name,
                           "access_key", u[i].access_key, "admin",
                           u[i].admin, "source",
                           u[i].builtin ? "builtin" : "catalog", "created_ms",
                           (json_int_t)u[i].created_ms));
    free(u);
    reply(req, 200, json_pack("{s:o}", "users", arr));
}

static void add_user(struct gw_req *req)
{
    json_error_t je;
    json_t *in = json_loadb(req->xml.p ? req->xml.p : "", req->xml.len, 0,
                            &je);
    const char *name = NULL;
    int admin = 0;
    struct iam_user u;
    enum iam_status st;

    if (in == NULL ||
        json_unpack_ex(in, &je, JSON_STRICT, "{s:s, s?b}", "name", &name,
                       "admin", &admin) != 0) {
        reply_err(req, 400, "InvalidArgument", "the body must be "
                  "{\"name\": NAME[, \"admin\": true|false]}");
        json_decref(in);
        return;
    }
    st = iam_user_add(req->srv->iam, name, admin, req->principal, &u);
    json_decref(in);
    if (st == IAM_OK) reply(req, 200, keys_json(&u));
    else reply_iam(req, st);
    OPENSSL_cleanse(&u, sizeof(u));
}

static void rotate_key(struct gw_req *req, const char *name)
{
    struct iam_user u;
    enum iam_status st = iam_key_rotate(req->srv->iam, name, req->principal,
                                        &u);
    if (st == IAM_OK) reply(req, 200, keys_json(&u));
    else reply_iam(req, st);
    OPENSSL_cleanse(&u, sizeof(u));
}

static void remove_user(struct gw_req *req, const char *name)
{
    enum iam_status st = iam_user_rm(req->srv->iam, name, req->principal);
    if (st == IAM_OK) req->resp.status = 204;
    else reply_iam(req, st);
}

/* "admin/v1/users[/<name>[/key]]" → the call. */
static void dispatch(struct gw_req *req)
{
    const char *rest = req->key + sizeof(GW_ADMIN_PREFIX) - 1;
    char name[IAM_NAME_MAX + 2];
    const char *slash;
    size_t nl;

    if (strcmp(rest, "/users") == 0 || strcmp(rest, "/users/") == 0) {
        if (req->method == HTTP_GET) list_users(req);
        else if (req->method == HTTP_POST) add_user(req);
        else reply_err(req, 405, "MethodNotAllowed", "GET or POST");
        return;
    }
    if (strncmp(rest, "/users/", 7) != 0) {
        reply_err(req, 404, "NotFound", "no such admin call");
        return;
    }
    rest += 7;
    slash = strchr(rest, '/');
    nl = slash ? (size_t)(slash - rest) : strlen(rest);
    if (nl == 0 || nl >= sizeof(name)) {
        reply_err(req, 404, "NoSuchUser", iam_strerror(IAM_ENOTFOUND));
        return;
    }
    memcpy(name, rest, nl);
    name[nl] = '\0';
    if (slash == NULL) {
        if (req->method == HTTP_DELETE) remove_user(req, name);
        else reply_err(req, 405, "MethodNotAllowed", "DELETE");
    } else if (strcmp(slash, "/key") == 0) {
        if (req->method == HTTP_POST) rotate_key(req, name);
        else reply_err(req, 405, "MethodNotAllowed", "POST");
    } else {
        reply_err(req, 404, "NotFound", "no such admin call");
    }
}

/* unaudited: refusals left out before this one (gw_admin_refuse). */
static void audit_entry(struct gw_req *req, unsigned long unaudited)
{
    char from[INET6_ADDRSTRLEN + 8];
    json_t *o;
    char *ev;

    if (req->conn->admin) snprintf(from, sizeof(from), "%s", GW_ADMIN_SOCK);
    else gw_peer_addr(req, from, sizeof(from));
    o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s}", "event",
                  "admin-call", "method", http_method_str(req->method),
                  "path", req->key, "by",
                  req->principal ? req->principal : "", "status",
                  req->resp.err != GW_E_NONE
                      ? gw_err_status(req->resp.err)
                      : (req->resp.status ? req->resp.status : 200),
                  "request", req->id, "from", from);
    /* Unauthenticated: the access key the request named, if any (never
     * its signature). */
    if (o && req->principal == NULL && req->auth.access_key[0])
        json_object_set_new(o, "access_key",
                            json_stringn(req->auth.access_key,
                                         strnlen(req->auth.access_key,
                                                 128)));
    if (o && unaudited)
        json_object_set_new(o, "unaudited_before",
                            json_integer((json_int_t)unaudited));
    ev = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (ev == NULL ||
        meta_audit_log(req->srv->db, ol_clock_now(), ev) != META_OK)
        gw_log_req(req, CF_LOG_ERR, "admin: cannot write the audit entry of "
                   "%s %s", http_method_str(req->method), req->key);
    free(ev);
    json_decref(o);
}

/* Unauthenticated callers can send refusals as fast as they like: the
 * audit log, which is never trimmed, takes at most
 * GW_ADMIN_REFUSALS_AUDITED_PER_S of them a second. */
static void refuse_work(struct gw_req *req)
{
    struct gw_server *srv = req->srv;
    long long sec = cf_monotonic_ms() / 1000;
    unsigned long unaudited = 0;
    int take;

    pthread_mutex_lock(&srv->refusal_lock);
    if (srv->refusal_sec != sec) {
        srv->refusal_sec = sec;
        srv->refusal_n = 0;
    }
    take = srv->refusal_n < GW_ADMIN_REFUSALS_AUDITED_PER_S;
    if (take) {
        srv->refusal_n++;
        unaudited = srv->refusal_unaudited;
        srv->refusal_unaudited = 0;
    } else {
        srv->refusal_unaudited++;
    }
    pthread_mutex_unlock(&srv->refusal_lock);
    gw_log_req(req, CF_LOG_WARN, "admin: refused %s %s to an "
               "unauthenticated caller (%d)", http_method_str(req->method),
               req->key, gw_err_status(req->resp.err));
    if (take) audit_entry(req, unaudited);
}

void gw_admin_refuse(struct gw_req *req, gw_job_fn done)
{
    gw_req_post(req, refuse_work, done);
}

static void admin_work(struct gw_req *req)
{
    if (!req->is_admin) {
        gw_log_req(req, CF_LOG_WARN, "admin: refused %s %s to non-admin "
                   "user %s", http_method_str(req->method), req->key,
                   req->principal ? req->principal : "-");
        reply_err(req, 403, "AccessDenied", "the admin API is for admin "
                  "users only");
    } else {
        dispatch(req);
    }
    audit_entry(req, 0);
}

void gw_h_admin(struct gw_req *req)
{
    gw_req_post(req, admin_work, gw_done_respond);
}
