/* gw_lock.c: S3 Object Lock in the gateway — bucket lock configuration,
 * per-version retention and legal hold, lock parameters on writes, the
 * response headers, and the delete check. Every decision is objlock's
 * (ol_decide_*), judged on the compliance clock; this file only turns
 * requests into calls and decisions into S3 errors. */
#include "gw_int.h"
#include "ol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

static const char lock_missing_content_md5[] =
    "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object "
    "requests with Object Lock parameters";

/* An audit event as JSON (malloc'ed, caller frees): what happened, to
 * which version, by whom, with which lock state. Keys that are not valid
 * UTF-8 are recorded in hex. NULL on allocation failure. */
char *gw_audit_event_for(const char *bucket, const char *by,
                         const char *request, const char *what,
                         const char *key, size_t key_len,
                         const struct meta_version *v, const char *detail)
{
    json_t *o = json_object();
    json_t *k = json_stringn(key ? key : "", key ? key_len : 0);
    char *out;

    if (o == NULL) return NULL;
    json_object_set_new(o, "event", json_string(what));
    json_object_set_new(o, "bucket", json_string(bucket));
    if (k) {
        json_object_set_new(o, "key", k);
    } else {
        char *hex = malloc(2 * key_len + 1);
        if (hex) {
            cf_hex_encode(key, key_len, hex);
            json_object_set_new(o, "key_hex", json_string(hex));
            free(hex);
        }
    }
    if (v) {
        json_object_set_new(o, "version", json_string(v->version_id));
        if (v->lock_mode != OL_MODE_NONE) {
            char date[CF_ISO8601_LEN];
            cf_fmt_iso8601_ms(v->retain_until_ms, date);
            json_object_set_new(o, "mode", json_string(
                                    ol_mode_str((enum ol_mode)v->lock_mode)));
            json_object_set_new(o, "retain_until", json_string(date));
        }
        json_object_set_new(o, "legal_hold", json_boolean(v->legal_hold));
        if (v->etag[0]) json_object_set_new(o, "etag", json_string(v->etag));
        if (v->sha256[0])
            json_object_set_new(o, "sha256", json_string(v->sha256));
        if (!v->delete_marker)
            json_object_set_new(o, "size", json_integer((json_int_t)v->size));
    }
    if (detail) json_object_set_new(o, "detail", json_string(detail));
    json_object_set_new(o, "by", json_string(by ? by : ""));
    json_object_set_new(o, "request", json_string(request ? request : ""));
    out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return out;
}

char *gw_audit_event(const struct gw_req *req, const char *what,
                     const char *key, size_t key_len,
                     const struct meta_version *v, const char *detail)
{
    return gw_audit_event_for(req->bucket, req->principal, req->id, what, key,
                              key_len, v, detail);
}

int gw_bypass_header(const struct gw_req *req)
{
    size_t n;
    const char *v = gw_req_header(req, "x-amz-bypass-governance-retention",
                                  &n);
    return v && n == 4 && strncasecmp(v, "true", 4) == 0;
}

static struct ol_principal principal(struct gw_req *req, const char *key)
{
    /* s3:BypassGovernanceRetention: admin users hold it, others when the
     * bucket policy grants it; an explicit Deny takes it from anyone. */
    struct ol_principal p = { gw_policy_bypass(req, key) };
    return p;
}

static struct ol_state state_of(const struct meta_version *v)
{
    struct ol_state s = { (enum ol_mode)v->lock_mode, v->retain_until_ms,
                          v->legal_hold };
    return s;
}

static enum gw_err deny_error(enum ol_decision d)
{
    /* One place decides how a refusal looks to S3 clients: AccessDenied,
     * as AWS answers for every Object Lock refusal. */
    return d == OL_ALLOW ? GW_E_NONE : GW_E_ACCESS_DENIED;
}

int gw_lock_check_delete(struct meta_version *v, void *arg)
{
    struct gw_req *req = arg;
    struct ol_state st = state_of(v);
    struct ol_principal who = principal(req, v->key ? v->key : req->key);
    enum ol_decision d;

    if (v->delete_marker) return 0; /* markers carry no lock */
    d = ol_decide_delete(&st, &who, gw_bypass_header(req), ol_clock_now());
    if (d == OL_ALLOW) {
        /* A protected version removed through the governance bypass is
         * audited (after the commit, by the caller). */
        if (ol_is_locked(&st, ol_clock_now())) req->lock_bypassed = 1;
        return 0;
    }
    req->lock_denied = deny_error(d);
    {
        /* Key lock → audit lock is the catalog's lock order. */
        char *ev = gw_audit_event(req, "delete-refused", v->key, v->key_len,
                                  v, ol_decision_str(d));
        if (ev) {
            meta_audit_log(req->srv->db, ol_clock_now(), ev);
            free(ev);
        }
    }
    gw_log_req(req, CF_LOG_NOTICE, "refused to delete %s/%.*s version %s: %s",
               req->bucket, (int)(v->key_len > 200 ? 200 : v->key_len),
               v->key ? v->key : "", v->version_id, ol_decision_str(d));
    return 1;
}

void gw_lock_headers(struct gw_req *req, const struct meta_version *v)
{
    if (v->lock_mode != OL_MODE_NONE) {
        char date[CF_ISO8601_LEN];
        cf_fmt_iso8601_ms(v->retain_until_ms, date);
        gw_resp_header(&req->resp, "x-amz-object-lock-mode", "%s",
                       ol_mode_str((enum ol_mode)v->lock_mode));
        gw_resp_header(&req->resp, "x-amz-object-lock-retain-until-date",
                       "%s", date);
    }
    if (req->lock_enabled || v->legal_hold)
        gw_resp_header(&req->resp, "x-amz-object-lock-legal-hold", "%s",
                       v->legal_hold ? "ON" : "OFF");
}

/* Parses the x-amz-object-lock-* headers. Returns 1 if any was given, 0
 * if none, -1 with the response error set. */
static int lock_headers_in(struct gw_req *req, struct meta_version *v)
{
    size_t ml, ul, hl;
    const char *mode = gw_req_header(req, "x-amz-object-lock-mode", &ml);
    const char *until = gw_req_header(req,
                                      "x-amz-object-lock-retain-until-date",
                                      &ul);
    const char *hold = gw_req_header(req, "x-amz-object-lock-legal-hold", &hl);
    char buf[32];
    enum ol_mode m;
    int64_t ms;

    if (!mode && !until && !hold) return 0;
    if ((mode != NULL) != (until != NULL)) {
        gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                      "x-amz-object-lock-retain-until-date and "
                      "x-amz-object-lock-mode must both be supplied");
        return -1;
    }
    if (mode) {
        if (ml >= sizeof(buf)) ml = sizeof(buf) - 1;
        memcpy(buf, mode, ml);
        buf[ml] = '\0';
        if (ol_mode_parse(buf, &m) != 0) {
            gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                          "Unknown wormMode directive.");
            return -1;
        }
        if (cf_parse_iso8601_ms((struct cf_str){ until, ul }, &ms) != 0) {
            gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                          "The retain until date must be provided in ISO "
                          "8601 format");
            return -1;
        }
        if (ms <= ol_clock_now()) {
            gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                          "The retain until date must be in the future!");
            return -1;
        }
        v->lock_mode = (int)m;
        v->retain_until_ms = ms;
    }
    if (hold) {
        if (hl == 2 && memcmp(hold, "ON", 2) == 0) v->legal_hold = 1;
        else if (hl == 3 && memcmp(hold, "OFF", 3) == 0) v->legal_hold = 0;
        else {
            gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                          "Legal Hold must be either of 'ON' or 'OFF'");
            return -1;
        }
    }
    return 1;
}

int gw_lock_explicit(struct gw_req *req, const struct meta_bucket *b,
                     struct meta_version *v)
{
    int r = lock_headers_in(req, v);

    if (r < 0) return -1;
    if (r > 0 && !b->lock_enabled) {
        gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                      "Bucket is missing Object Lock Configuration");
        return -1;
    }
    return r;
}

int gw_lock_for_write(struct gw_req *req, const struct meta_bucket *b,
                      struct meta_version *v, int *applies)
{
    *applies = 0;
    if (gw_lock_explicit(req, b, v) < 0) return -1;
    gw_lock_default(b, v, applies);
    return 0;
}

void gw_lock_default(const struct meta_bucket *b, struct meta_version *v,
                     int *applies)
{
    if (b->lock_enabled && v->lock_mode == OL_MODE_NONE &&
        b->lock_mode != OL_MODE_NONE) {
        /* The bucket default, stamped at write time: later changes to the
         * default never touch this version. */
        int64_t now = ol_clock_now();
        v->lock_mode = b->lock_mode;
        v->retain_until_ms = b->lock_days ? ol_add_days(now, b->lock_days)
                                          : ol_add_years(now, b->lock_years);
    }
    *applies = v->lock_mode != OL_MODE_NONE || v->legal_hold;
}

/* ---- lock parameters of a multipart upload ----
 * Kept in the upload record as one internal entry of its stored headers
 * (GW_UPLOAD_LOCK_HEADER, never sent, never copied to the version):
 * "<mode> <retain-until ms> <legal hold 0/1>". */

int gw_lock_to_upload(const struct meta_version *lk, struct meta_version *hv)
{
    char val[64];
    struct meta_kv *kv = realloc(hv->headers,
                                 (hv->nheaders + 1) * sizeof(*kv));
    if (kv == NULL) return -1;
    hv->headers = kv;
    snprintf(val, sizeof(val), "%d %lld %d", lk->lock_mode,
             (long long)lk->retain_until_ms, lk->legal_hold ? 1 : 0);
    kv[hv->nheaders].name = strdup(GW_UPLOAD_LOCK_HEADER);
    kv[hv->nheaders].value = strdup(val);
    if (kv[hv->nheaders].name == NULL || kv[hv->nheaders].value == NULL) {
        free(kv[hv->nheaders].name);
        free(kv[hv->nheaders].value);
        return -1;
    }
    hv->nheaders++;
    return 0;
}

int gw_upload_locked(const struct meta_kv *h, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (strcmp(h[i].name, GW_UPLOAD_LOCK_HEADER) == 0) return 1;
    return 0;
}

int gw_lock_from_upload(struct meta_version *v)
{
    size_t i;
    for (i = 0; i < v->nheaders; i++) {
        int mode = 0, hold = 0;
        long long until = 0;
        if (strcmp(v->headers[i].name, GW_UPLOAD_LOCK_HEADER) != 0) continue;
        if (sscanf(v->headers[i].value, "%d %lld %d", &mode, &until,
                   &hold) == 3) {
            v->lock_mode = mode;
            v->retain_until_ms = (int64_t)until;
            v->legal_hold = hold ? 1 : 0;
        }
        free(v->headers[i].name);
        free(v->headers[i].value);
        v->headers[i] = v->headers[--v->nheaders];
        return 1;
    }
    return 0;
}

int gw_lock_system_bucket(struct gw_req *req)
{
    const char *sys = req->srv->conf->audit_export_bucket;

    if (sys == NULL || strcmp(req->bucket, sys) != 0) return 0;
    switch (req->op) {
    case GW_OP_DELETE_BUCKET:
    case GW_OP_DELETE_OBJECTS:
    case GW_OP_PUT_OBJECT:
    case GW_OP_DELETE_OBJECT:
    case GW_OP_CREATE_MPU:
    case GW_OP_UPLOAD_PART:
    case GW_OP_COMPLETE_MPU:
    case GW_OP_PUT_VERSIONING:
    case GW_OP_COPY_OBJECT:
    case GW_OP_PUT_TAGGING:
    case GW_OP_DELETE_TAGGING:
    case GW_OP_PUT_LOCK_CONFIG:
        gw_resp_error(&req->resp, GW_E_ACCESS_DENIED,
                      "The audit export bucket is written only by coffer.");
        return -1;
    default:
        return 0;
    }
}

/* ---- bucket configuration ---- */

static int load_bucket(struct gw_req *req, struct meta_bucket *b)
{
    return gw_bucket_check(req, b);
}

static void put_lock_config_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct gw_xml_lock_config c;
    enum meta_status st;
    enum ol_mode m = OL_MODE_NONE;

    if (load_bucket(req, &b) != 0) return;
    if (gw_xml_parse_lock_config(req->xml.p ? req->xml.p : "", req->xml.len,
                                 &c) != GW_XML_OK ||
        !c.enabled) {
        gw_resp_error(&req->resp, GW_E_MALFORMED_XML, NULL);
        return;
    }
    if (c.has_rule) {
        long period = c.days != -1 ? c.days : c.years;
        if (period <= 0 || (c.years != -1 && c.years > 100) ||
            (c.days != -1 && c.days > 36500)) {
            gw_resp_error(&req->resp, GW_E_INVALID_RETENTION_PERIOD, NULL);
            return;
        }
        ol_mode_parse(c.mode, &m);
    }
    if (!b.lock_enabled && b.versioning != META_VERSIONING_ENABLED) {
        gw_resp_error(&req->resp, GW_E_INVALID_BUCKET_STATE,
                      "Versioning must be 'Enabled' on the bucket to apply a "
                      "Object Lock configuration");
        return;
    }
    b.lock_enabled = 1;
    b.lock_mode = (int)m;
    b.lock_days = c.has_rule && c.days != -1 ? (uint32_t)c.days : 0;
    b.lock_years = c.has_rule && c.years != -1 ? (uint32_t)c.years : 0;
    st = meta_bucket_update(req->srv->db, &b);
    if (st != META_OK) {
        gw_resp_error(&req->resp, gw_err_from_meta(st), NULL);
        return;
    }
    {
        char detail[96];
        char *ev;
        snprintf(detail, sizeof(detail), "default %s %u %s",
                 b.lock_mode ? ol_mode_str((enum ol_mode)b.lock_mode)
                             : "none",
                 b.lock_days ? b.lock_days : b.lock_years,
                 b.lock_days ? "days" : "years");
        ev = gw_audit_event(req, "lock-config", NULL, 0, NULL, detail);
        if (ev) {
            meta_audit_log(req->srv->db, ol_clock_now(), ev);
            free(ev);
        }
    }
}

void gw_h_put_lock_config(struct gw_req *req)
{
    gw_req_post(req, put_lock_config_work, gw_done_respond);
}

static void get_lock_config_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct gw_xbuf *x = &req->resp.body;

    if (load_bucket(req, &b) != 0) return;
    if (!b.lock_enabled) {
        gw_resp_error(&req->resp, GW_E_NO_LOCK_CONFIG, NULL);
        return;
    }
    gw_xbuf_str(x, GW_XML_DECL "<ObjectLockConfiguration xmlns=\"http://s3."
                   "amazonaws.com/doc/2006-03-01/\"><ObjectLockEnabled>"
                   "Enabled</ObjectLockEnabled>");
    if (b.lock_mode != OL_MODE_NONE) {
        gw_xbuf_printf(x, "<Rule><DefaultRetention><Mode>%s</Mode>",
                       ol_mode_str((enum ol_mode)b.lock_mode));
        if (b.lock_days) gw_xbuf_printf(x, "<Days>%u</Days>", b.lock_days);
        else gw_xbuf_printf(x, "<Years>%u</Years>", b.lock_years);
        gw_xbuf_str(x, "</DefaultRetention></Rule>");
    }
    gw_xbuf_str(x, "</ObjectLockConfiguration>");
}

void gw_h_get_lock_config(struct gw_req *req)
{
    gw_req_post(req, get_lock_config_work, gw_done_respond);
}

/* ---- retention and legal hold of one version ---- */

static const char *vid_of(const struct gw_req *req)
{
    const struct gw_qparam *q = gw_req_qparam(req, "versionId");
    return q ? q->value : NULL;
}

/* Common prologue: bucket with lock, else InvalidRequest. */
static int lock_bucket(struct gw_req *req, struct meta_bucket *b)
{
    if (load_bucket(req, b) != 0) return -1;
    if (!b->lock_enabled) {
        gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                      "Bucket is missing Object Lock Configuration");
        return -1;
    }
    return 0;
}

static void version_error(struct gw_req *req, enum meta_status st)
{
    if (st == META_ENOTFOUND)
        gw_resp_error(&req->resp, vid_of(req) ? GW_E_NO_SUCH_VERSION
                                              : GW_E_NO_SUCH_KEY,
                      NULL);
    else if (st == META_EDENIED)
        gw_resp_error(&req->resp,
                      req->lock_denied ? req->lock_denied
                                       : GW_E_ACCESS_DENIED,
                      NULL);
    else
        gw_resp_error(&req->resp, gw_err_from_meta(st), NULL);
}

struct retention_change {
    struct gw_req *req;
    enum ol_mode mode;
    int64_t until;
};

static int apply_retention(struct meta_version *v, void *arg)
{
    struct retention_change *c = arg;
    struct ol_state st = state_of(v);
    struct ol_principal who = principal(c->req, v->key ? v->key
                                                        : c->req->key);
    enum ol_decision d;

    if (v->delete_marker) {
        c->req->lock_denied = GW_E_METHOD_NOT_ALLOWED;
        return 1;
    }
    d = ol_decide_retention(&st, c->mode, c->until, &who,
                            gw_bypass_header(c->req), ol_clock_now());
    if (d != OL_ALLOW) {
        c->req->lock_denied = deny_error(d);
        gw_log_req(c->req, CF_LOG_NOTICE, "refused retention change of "
                   "version %s: %s", v->version_id, ol_decision_str(d));
        return 1;
    }
    v->lock_mode = (int)c->mode;
    v->retain_until_ms = c->mode == OL_MODE_NONE ? 0 : c->until;
    return 0;
}

static void put_retention_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct retention_change c;
    char mode[32], until[64];
    enum meta_status st;

    if (lock_bucket(req, &b) != 0) return;
    if (gw_xml_parse_retention(req->xml.p ? req->xml.p : "", req->xml.len,
                               mode, sizeof(mode), until,
                               sizeof(until)) != GW_XML_OK) {
        gw_resp_error(&req->resp, GW_E_MALFORMED_XML, NULL);
        return;
    }
    c.req = req;
    c.mode = OL_MODE_NONE;
    c.until = 0;
    if (mode[0] || until[0]) {
        if (!mode[0] || !until[0] || ol_mode_parse(mode, &c.mode) != 0) {
            gw_resp_error(&req->resp, GW_E_MALFORMED_XML, NULL);
            return;
        }
        if (cf_parse_iso8601_ms((struct cf_str){ until, strlen(until) },
                                &c.until) != 0) {
            gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                          "The retain until date must be provided in ISO "
                          "8601 format");
            return;
        }
        if (c.until <= ol_clock_now()) {
            gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                          "The retain until date must be in the future!");
            return;
        }
    }
    {
        struct meta_version tmp;
        char *ev;
        memset(&tmp, 0, sizeof(tmp));
        snprintf(tmp.version_id, sizeof(tmp.version_id), "%s",
                 vid_of(req) ? vid_of(req) : "");
        tmp.lock_mode = (int)c.mode;
        tmp.retain_until_ms = c.until;
        ev = gw_audit_event(req, "retention-set", req->key, req->key_len,
                            &tmp, gw_bypass_header(req) ? "bypass requested"
                                                        : NULL);
        if (ev == NULL) {
            gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
            return;
        }
        st = meta_object_update_audited(req->srv->db, req->bucket, req->key,
                                        req->key_len, vid_of(req),
                                        apply_retention, &c, ol_clock_now(),
                                        ev);
        free(ev);
    }
    if (st != META_OK) version_error(req, st);
}

void gw_h_put_retention(struct gw_req *req)
{
    gw_req_post(req, put_retention_work, gw_done_respond);
}

static void get_lock_state_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct meta_version v;
    struct gw_xbuf *x = &req->resp.body;
    enum meta_status st;

    if (lock_bucket(req, &b) != 0) return;
    st = meta_object_get(req->srv->db, req->bucket, req->key, req->key_len,
                         vid_of(req), &v);
    if (st != META_OK) {
        version_error(req, st);
        return;
    }
    if (v.delete_marker) {
        gw_resp_error(&req->resp, GW_E_METHOD_NOT_ALLOWED, NULL);
    } else if (req->op == GW_OP_GET_RETENTION) {
        char date[CF_ISO8601_LEN];
        if (v.lock_mode == OL_MODE_NONE) {
            gw_resp_error(&req->resp, GW_E_NO_OBJECT_LOCK, NULL);
        } else {
            cf_fmt_iso8601_ms(v.retain_until_ms, date);
            gw_xbuf_printf(x, GW_XML_DECL "<Retention xmlns=\"http://s3."
                              "amazonaws.com/doc/2006-03-01/\"><Mode>%s"
                              "</Mode><RetainUntilDate>%s</RetainUntilDate>"
                              "</Retention>",
                           ol_mode_str((enum ol_mode)v.lock_mode), date);
        }
    } else {
        gw_xbuf_printf(x, GW_XML_DECL "<LegalHold xmlns=\"http://s3."
                          "amazonaws.com/doc/2006-03-01/\"><Status>%s"
                          "</Status></LegalHold>",
                       v.legal_hold ? "ON" : "OFF");
    }
    meta_version_cleanup(&v);
}

void gw_h_get_retention(struct gw_req *req)
{
    gw_req_post(req, get_lock_state_work, gw_done_respond);
}

void gw_h_get_legal_hold(struct gw_req *req)
{
    gw_req_post(req, get_lock_state_work, gw_done_respond);
}

struct hold_change {
    struct gw_req *req;
    int on;
};

static int apply_hold(struct meta_version *v, void *arg)
{
    struct hold_change *h = arg;
    if (v->delete_marker) {
        h->req->lock_denied = GW_E_METHOD_NOT_ALLOWED;
        return 1;
    }
    v->legal_hold = h->on;
    return 0;
}

static void put_legal_hold_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct hold_change h = { req, 0 };
    enum meta_status st;

    if (lock_bucket(req, &b) != 0) return;
    if (gw_xml_parse_legal_hold(req->xml.p ? req->xml.p : "", req->xml.len,
                                &h.on) != GW_XML_OK) {
        gw_resp_error(&req->resp, GW_E_MALFORMED_XML, NULL);
        return;
    }
    {
        char *ev = gw_audit_event(req, h.on ? "legal-hold-on"
                                             : "legal-hold-off",
                                  req->key, req->key_len, NULL,
                                  vid_of(req));
        if (ev == NULL) {
            gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
            return;
        }
        st = meta_object_update_audited(req->srv->db, req->bucket, req->key,
                                        req->key_len, vid_of(req), apply_hold,
                                        &h, ol_clock_now(), ev);
        free(ev);
    }
    if (st != META_OK) version_error(req, st);
}

void gw_h_put_legal_hold(struct gw_req *req)
{
    gw_req_post(req, put_legal_hold_work, gw_done_respond);
}

/* Content-MD5 requirement message, shared with the PUT path. */
const char *gw_lock_md5_message(void)
{
    return lock_missing_content_md5;
}
