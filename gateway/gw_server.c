/* gw_server.c: loops, connections, the HTTP/1.1 request cycle and the job
 * hand-off between loops and workers.
 *
 * One event_base per loop thread; each loop has its own listening socket on
 * the same address (SO_REUSEPORT) so the kernel spreads connections. Bytes
 * are parsed with http_parser, which is paused at two points of every
 * request: when the head is complete (so authentication, routing and the
 * prepare job run before any body byte is consumed) and when the message is
 * complete (so a pipelined next request waits for this response).
 *
 * Invariants:
 * - At most one job per request is in flight (req->job_busy); while it is,
 *   the request and its connection are not freed: a connection closed under
 *   a running job is only marked dead and freed by the job's done callback.
 * - Memory per connection is bounded: the input evbuffer by the read high
 *   watermark (buffer_size), the head by max_header_bytes, an upload by
 *   GW_PUT_BUFS pool blocks, a download by one block plus the output high
 *   watermark. Nothing grows with object size. All downloads together hold
 *   at most read_ahead_total bytes of blocks (gw_object.c). */
#include "gw_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <event2/thread.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

static void conn_process(struct gw_conn *conn);
static void conn_close(struct gw_conn *conn);
static void addr_release(struct gw_conn *conn);
static void conn_linger(struct gw_conn *conn);
static void req_finish(struct gw_req *req);
static void req_free(struct gw_req *req);
static void req_start(struct gw_req *req);

/* ---- responses ---- */

void gw_resp_header(struct gw_resp *r, const char *name, const char *fmt, ...)
{
    char val[2048];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    gw_xbuf_str(&r->hdrs, name);
    gw_xbuf_raw(&r->hdrs, ": ", 2);
    gw_xbuf_raw(&r->hdrs, val, (size_t)n < sizeof(val) ? (size_t)n
                                                        : sizeof(val) - 1);
    gw_xbuf_raw(&r->hdrs, "\r\n", 2);
}

void gw_resp_error(struct gw_resp *r, enum gw_err e, const char *msg)
{
    r->err = e;
    r->status = gw_err_status(e);
    snprintf(r->err_msg, sizeof(r->err_msg), "%s", msg ? msg : "");
}

void gw_resp_cleanup(struct gw_resp *r)
{
    gw_xbuf_cleanup(&r->hdrs);
    gw_xbuf_cleanup(&r->body);
}

static const char *status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 416: return "Requested Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
    }
}

/* Renders the S3 error document for resp->err into resp->body. */
static void render_error(struct gw_req *req)
{
    struct gw_resp *r = &req->resp;
    const char *msg = r->err_msg[0] ? r->err_msg : gw_err_default_msg(r->err);

    r->body.len = 0;
    gw_xbuf_str(&r->body, GW_XML_DECL "<Error><Code>");
    gw_xbuf_str(&r->body, gw_err_code(r->err));
    gw_xbuf_str(&r->body, "</Code>");
    gw_xbuf_elem(&r->body, "Message", msg, strlen(msg));
    if (req->bucket[0]) gw_xbuf_elem(&r->body, "BucketName", req->bucket,
                                     strlen(req->bucket));
    if (req->key) gw_xbuf_elem(&r->body, "Key", req->key, req->key_len);
    if (req->path.len) gw_xbuf_elem(&r->body, "Resource", req->path.p,
                                    req->path.len);
    else gw_xbuf_elem(&r->body, "Resource", "/", 1);
    gw_xbuf_elem(&r->body, "RequestId", req->id, strlen(req->id));
    gw_xbuf_elem(&r->body, "HostId", req->id, strlen(req->id));
    gw_xbuf_str(&r->body, "</Error>");
}

struct bufferevent *gw_req_bev(struct gw_req *req)
{
    return req->conn ? req->conn->bev : NULL;
}

void gw_req_respond(struct gw_req *req)
{
    struct gw_resp *r = &req->resp;
    struct bufferevent *bev = gw_req_bev(req);
    struct evbuffer *out;
    char date[CF_ISO8601_LEN];
    uint64_t clen;

    if (r->err != GW_E_NONE) {
        r->streamed = 0;
        render_error(req);
        if (req->method == HTTP_HEAD) r->no_body = 1;
        /* Anything left of the request body would be read as the next
         * request: close instead. */
        if (req->state < GW_RS_COMMIT && !req->message_complete)
            req->close_after = 1;
    }
    if (r->status == 0) r->status = 200;
    req->state = GW_RS_RESPOND;
    if (bev == NULL) return;
    out = bufferevent_get_output(bev);
    cf_fmt_http_date(cf_now_ms() / 1000, date);
    clen = r->streamed ? r->stream_len : r->body.len;
    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\n"
                        "Server: coffer\r\n"
                        "Date: %s\r\n"
                        "x-amz-request-id: %s\r\n"
                        "x-amz-id-2: %s\r\n",
                        r->status, status_text(r->status), date, req->id,
                        req->id);
    if (r->err != GW_E_NONE || (r->body.len && !r->streamed))
        evbuffer_add_printf(out, "Content-Type: %s\r\n",
                            r->err == GW_E_NONE && r->content_type
                                ? r->content_type : "application/xml");
    if (r->hdrs.len) evbuffer_add(out, r->hdrs.p, r->hdrs.len);
    if (r->err != GW_E_NONE && req->method == HTTP_HEAD) clen = 0;
    if (r->status != 204 && r->status != 304)
        evbuffer_add_printf(out, "Content-Length: %llu\r\n",
                            (unsigned long long)clen);
    if (req->close_after) evbuffer_add_printf(out, "Connection: close\r\n");
    evbuffer_add(out, "\r\n", 2);
    if (!r->no_body && !r->streamed && r->body.len && req->method != HTTP_HEAD)
        evbuffer_add(out, r->body.p, r->body.len);
    req->bytes_out = r->streamed ? 0 : r->body.len;
    if (!r->streamed || r->no_body || req->method == HTTP_HEAD)
        req_finish(req);
}

void gw_req_stream_end(struct gw_req *req)
{
    req_finish(req);
}

/* ---- access log ---- */

void gw_log_req(const struct gw_req *req, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (level > cf_log_verbosity) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cf_log_raw(level, "conn=%llu req=%s %s",
               req->conn ? (unsigned long long)req->conn->id : 0ULL, req->id,
               msg);
}

static void log_access(const struct gw_req *req)
{
    const char *m = http_method_str(req->method);
    int64_t ms = cf_monotonic_ms() - req->start_ms;
    gw_log_req(req, CF_LOG_INFO, "%s /%s%s%.*s %d %llu %lldms", m,
               req->bucket, req->key ? "/" : "",
               req->key ? (int)(req->key_len > 200 ? 200 : req->key_len) : 0,
               req->key ? req->key : "", req->resp.status,
               (unsigned long long)req->bytes_out, (long long)ms);
}

/* (Re)arms the connection's one timer. An event must not be re-assigned
 * while pending, hence the del. */
void gw_conn_timer(struct gw_conn *conn, void (*cb)(evutil_socket_t, short,
                                                    void *),
                   long ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_del(conn->timer);
    evtimer_assign(conn->timer, conn->loop->base, cb, conn);
    evtimer_add(conn->timer, &tv);
}

/* ---- jobs ---- */

static void job_work(struct cf_job *cj)
{
    struct gw_job *j = (struct gw_job *)cj;
    j->work(j->req);
}

/* Worker side: hand the job back to its loop. */
static void job_complete(struct cf_job *cj)
{
    struct gw_job *j = (struct gw_job *)cj;
    /* The conn is not freed while the job is busy (see invariants). */
    struct gw_loop *loop = j->req->conn->loop;
    int first;
    pthread_mutex_lock(&loop->done_lock);
    j->next_done = NULL;
    first = loop->done_head == NULL;
    if (loop->done_tail) loop->done_tail->next_done = j;
    else loop->done_head = j;
    loop->done_tail = j;
    pthread_mutex_unlock(&loop->done_lock);
    /* One wake-up per batch: wake_cb takes the whole list, so a job that
     * finds it non-empty rides on the wake-up already on its way (the
     * loop's base lock and eventfd are the costly part of a hand-off). */
    if (first) event_active(loop->wake, EV_READ, 0);
}

static void retry_post_cb(evutil_socket_t fd, short what, void *arg);

void gw_req_post(struct gw_req *req, gw_job_fn work, gw_job_fn done)
{
    cf_check(!req->job_busy);
    req->job.req = req;
    req->job.work = work;
    req->job.done = done;
    req->job.base.work = job_work;
    req->job.base.complete = job_complete;
    req->job_busy = 1;
    if (cf_workq_post(req->srv->workq, &req->job.base) != 0) {
        /* Queue full: retry shortly; the request keeps its input paused. */
        gw_conn_timer(req->conn, retry_post_cb, 2);
    }
}

static void retry_post_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *conn = arg;
    struct gw_req *req = conn->req;
    if (req == NULL || !req->job_busy) return;
    if (cf_workq_post(req->srv->workq, &req->job.base) != 0)
        gw_conn_timer(conn, retry_post_cb, 2);
}

static void conn_maybe_free(struct gw_conn *conn);

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_loop *loop = arg;
    struct gw_job *j, *next;

    pthread_mutex_lock(&loop->done_lock);
    j = loop->done_head;
    loop->done_head = loop->done_tail = NULL;
    pthread_mutex_unlock(&loop->done_lock);
    for (; j != NULL; j = next) {
        struct gw_req *req = j->req;
        struct gw_conn *conn = req->conn;
        next = j->next_done;
        req->job_busy = 0;
        if (conn->bev == NULL) {
            /* The client went away while the job ran. */
            gw_req_handler_cleanup(req);
            if (req->job_busy) continue; /* cleanup posted an abort job */
            conn->req = NULL;
            req_free(req);
            conn_maybe_free(conn);
            continue;
        }
        j->done(req);
    }
}

/* ---- request lifecycle ---- */

static void make_request_id(char id[17])
{
    unsigned char r[8];
    cf_random_bytes(r, sizeof(r));
    cf_hex_encode(r, sizeof(r), id);
    for (int i = 0; i < 16; i++)
        if (id[i] >= 'a') id[i] = (char)(id[i] - 'a' + 'A');
}

static struct gw_req *req_new(struct gw_conn *conn)
{
    struct gw_req *req = calloc(1, sizeof(*req));
    if (req == NULL) return NULL;
    req->conn = conn;
    req->srv = conn->loop->srv;
    req->start_ms = cf_monotonic_ms();
    req->content_length = UINT64_MAX;
    make_request_id(req->id);
    return req;
}

static void req_free(struct gw_req *req)
{
    int i;
    if (req == NULL) return;
    cf_check(!req->job_busy);
    gw_req_handler_cleanup(req);
    gw_xbuf_cleanup(&req->head);
    gw_xbuf_cleanup(&req->xml);
    for (i = 0; i < req->nqp; i++) {
        free(req->qp[i].name);
        free(req->qp[i].value);
    }
    free(req->qp);
    free(req->key);
    gw_resp_cleanup(&req->resp);
    OPENSSL_cleanse(&req->user, sizeof(req->user));
    iam_policy_free(req->policy);
    free(req);
}

/* The response is fully queued: log, free, and go on with the connection. */
static void req_finish(struct gw_req *req)
{
    struct gw_conn *conn = req->conn;

    log_access(req);
    req->state = GW_RS_DONE;
    if (req->job_busy) return; /* freed by the job's done callback */
    if (conn == NULL) {
        req_free(req);
        return;
    }
    if (req->close_after) conn->closing = 1;
    conn->req = NULL;
    req_free(req);
    if (conn->closing) {
        if (conn->bev &&
            evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0)
            conn_linger(conn);
        else if (conn->bev)
            bufferevent_disable(conn->bev, EV_READ);
        return;
    }
    http_parser_pause(&conn->parser, 0);
    conn->paused = 0;
    /* Idle until the next request: the idle timeout applies. */
    if (!conn->in_read) conn_process(conn);
}

/* ---- http_parser callbacks ---- */

static int on_message_begin(http_parser *p)
{
    return 0;
}

static int head_append(struct gw_req *req, const char *at, size_t len)
{
    size_t max = req->srv->conf->max_header_bytes;
    if (req->head.len + len > max) {
        req->head_overflow = 1;
        return -1;
    }
    gw_xbuf_raw(&req->head, at, len);
    return req->head.oom ? -1 : 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct gw_conn *conn = p->data;
    struct gw_req *req = conn->req;
    if (req->url_len == 0) req->url_off = req->head.len;
    if (head_append(req, at, len) != 0) return -1;
    req->url_len += len;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct gw_conn *conn = p->data;
    struct gw_req *req = conn->req;
    if (req->nhdrs == 0 || req->last_was_value) {
        if (req->nhdrs == GW_MAX_HEADERS) {
            req->too_many_headers = 1;
            return -1;
        }
        req->hoff[req->nhdrs].noff = req->head.len;
        req->hoff[req->nhdrs].nlen = 0;
        req->hoff[req->nhdrs].voff = 0;
        req->hoff[req->nhdrs].vlen = 0;
        req->nhdrs++;
        req->last_was_value = 0;
    }
    if (head_append(req, at, len) != 0) return -1;
    req->hoff[req->nhdrs - 1].nlen += len;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct gw_conn *conn = p->data;
    struct gw_req *req = conn->req;
    if (req->nhdrs == 0) return -1;
    if (!req->last_was_value) {
        req->hoff[req->nhdrs - 1].voff = req->head.len;
        req->last_was_value = 1;
    }
    if (head_append(req, at, len) != 0) return -1;
    req->hoff[req->nhdrs - 1].vlen += len;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct gw_conn *conn = p->data;
    struct gw_req *req = conn->req;
    int i;

    for (i = 0; i < req->nhdrs; i++) {
        req->hdrs[i].name.p = req->head.p + req->hoff[i].noff;
        req->hdrs[i].name.len = req->hoff[i].nlen;
        req->hdrs[i].value.p = req->hoff[i].vlen
                                   ? req->head.p + req->hoff[i].voff
                                   : "";
        req->hdrs[i].value.len = req->hoff[i].vlen;
    }
    req->method = (enum http_method)p->method;
    if (p->flags & F_CHUNKED) req->content_length = UINT64_MAX;
    else if (p->content_length != ULLONG_MAX)
        req->content_length = p->content_length;
    else req->content_length = 0;
    if (!http_should_keep_alive(p)) req->close_after = 1;
    /* Stop here: nothing of the body is consumed until the request has been
     * authenticated and prepared. */
    http_parser_pause(p, 1);
    conn->paused = 1;
    req->state = GW_RS_PREPARE;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct gw_conn *conn = p->data;
    struct gw_req *req = conn->req;

    conn->rate_bytes += len;
    switch (req->body_kind) {
    case GW_BODY_STREAM:
        return gw_put_body(req, at, len) == 0 ? 0 : -1;
    case GW_BODY_XML:
        if (req->xml.len + len > req->srv->conf->max_xml_bytes) {
            gw_resp_error(&req->resp, GW_E_MAX_MESSAGE_LENGTH, NULL);
            req->body_error = 1;
            return -1;
        }
        gw_xbuf_raw(&req->xml, at, len);
        return 0;
    case GW_BODY_DISCARD:
    default:
        req->discarded += len;
        return 0;
    }
}

static int on_message_complete(http_parser *p)
{
    struct gw_conn *conn = p->data;
    struct gw_req *req = conn->req;
    req->message_complete = 1;
    http_parser_pause(p, 1);
    conn->paused = 1;
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

const http_parser_settings *gw_parser_settings(void)
{
    return &parser_settings;
}

/* ---- lookup helpers ---- */

const char *gw_req_header(const struct gw_req *req, const char *name,
                          size_t *len)
{
    int i;
    for (i = 0; i < req->nhdrs; i++)
        if (cf_str_caseeq(req->hdrs[i].name, name)) {
            if (len) *len = req->hdrs[i].value.len;
            return req->hdrs[i].value.p;
        }
    return NULL;
}

const struct gw_qparam *gw_req_qparam(const struct gw_req *req,
                                      const char *name)
{
    int i;
    for (i = 0; i < req->nqp; i++)
        if (strcmp(req->qp[i].name, name) == 0) return &req->qp[i];
    return NULL;
}

/* ---- the request cycle ---- */

/* The signer's secret, from iam's in-memory table (never blocks): the
 * user is copied into the request, which owns that copy. */
static const char *secret_lookup(const char *access_key, void *arg)
{
    struct gw_req *req = arg;
    if (!iam_lookup(req->srv->iam, access_key, &req->user)) {
        memset(&req->user, 0, sizeof(req->user));
        return NULL;
    }
    return req->user.secret_key;
}

/* Counts and logs a failed authentication with the client's address and
 * the access key it named (never its signature or any secret). */
static void auth_failed(struct gw_req *req, enum gw_auth_result ar)
{
    char addr[INET6_ADDRSTRLEN + 8];
    unsigned long n = atomic_fetch_add(&req->srv->auth_failures, 1) + 1;

    gw_peer_addr(req, addr, sizeof(addr));
    gw_log_req(req, CF_LOG_WARN, "auth: failed (%s) for access key '%.*s' "
               "from %s; %lu failed authentications since start",
               ar == GW_AUTH_BAD_ACCESS_KEY ? "unknown access key"
               : ar == GW_AUTH_BAD_SIGNATURE ? "signature mismatch"
               : ar == GW_AUTH_SKEWED ? "request time skewed"
               : ar == GW_AUTH_EXPIRED ? "expired"
               : "malformed",
               (int)strnlen(req->auth.access_key, 128), req->auth.access_key,
               addr, n);
}

static enum gw_err auth_error(enum gw_auth_result r)
{
    switch (r) {
    case GW_AUTH_OK: return GW_E_NONE;
    case GW_AUTH_ANONYMOUS: return GW_E_ACCESS_DENIED;
    case GW_AUTH_MALFORMED: return GW_E_AUTH_HEADER_MALFORMED;
    case GW_AUTH_UNSUPPORTED: return GW_E_INVALID_REQUEST;
    case GW_AUTH_BAD_ACCESS_KEY: return GW_E_INVALID_ACCESS_KEY;
    case GW_AUTH_BAD_SIGNATURE: return GW_E_SIGNATURE_MISMATCH;
    case GW_AUTH_SKEWED: return GW_E_REQUEST_TIME_SKEWED;
    case GW_AUTH_EXPIRED: return GW_E_ACCESS_DENIED;
    case GW_AUTH_BAD_DATE: return GW_E_ACCESS_DENIED;
    case GW_AUTH_BAD_CONTENT_SHA: return GW_E_INVALID_ARGUMENT;
    case GW_AUTH_MISSING_CONTENT_SHA: return GW_E_INVALID_REQUEST;
    }
    return GW_E_ACCESS_DENIED;
}

/* An error decided from the head alone. A body-less request is read to
 * its end first so the connection stays usable; otherwise the unread body
 * forces a close after the answer. */
static void req_fail_early(struct gw_req *req)
{
    if (req->content_length == 0) {
        req->body_kind = GW_BODY_DISCARD;
        gw_req_continue_body(req);
        return;
    }
    gw_req_respond(req);
}

/* A request refused before anyone was authenticated, its error set: an
 * admin call is audited first (gw_admin_refuse). */
static void auth_refused(struct gw_req *req)
{
    if (req->op == GW_OP_ADMIN) gw_admin_refuse(req, req_fail_early);
    else req_fail_early(req);
}

/* The head is complete: authenticate, route, start the handler. */
static void req_start(struct gw_req *req)
{
    struct gw_sigv4_req sreq;
    enum gw_auth_result ar;
    char msg[256] = "";
    const char *v;
    size_t vlen;

    /* Cancel the header deadline; the body has its own read timeout. */
    evtimer_del(req->conn->timer);

    if (gw_route(req) != 0) {
        req_fail_early(req);
        return;
    }
    v = gw_req_header(req, "expect", &vlen);
    if (v && vlen == 12 && strncasecmp(v, "100-continue", 12) == 0)
        req->expect_continue = 1;
    if (req->conn->console && req->op != GW_OP_ADMIN) {
        /* The console port answers only the admin API (SigV4 below). */
        gw_resp_error(&req->resp, GW_E_NOT_FOUND, NULL);
        req_fail_early(req);
        return;
    }
    if (req->op == GW_OP_CORS_PREFLIGHT) {
        /* Browsers send preflights without credentials (AWS serves them
         * anonymously); only the bucket's CORS rules are revealed. An
         * anonymous request gets no body read on its behalf. */
        if (req->content_length != 0) {
            gw_resp_error(&req->resp, GW_E_BAD_REQUEST,
                          "A CORS preflight request carries no body.");
            req_fail_early(req);
            return;
        }
        req->body_kind = GW_BODY_DISCARD;
        gw_req_continue_body(req);
        return;
    }

    if (req->conn->admin) {
        /* The admin socket: whoever may open it (mode 0600, peer uid
         * checked) administers; it serves the admin API only. */
        if (req->op != GW_OP_ADMIN) {
            gw_resp_error(&req->resp, GW_E_ACCESS_DENIED,
                          "The admin socket serves only /coffer/admin/v1/.");
            req_fail_early(req);
            return;
        }
        snprintf(req->user.name, sizeof(req->user.name), "%s",
                 GW_ADMIN_SOCK);
        req->principal = req->user.name;
        req->is_admin = 1;
        goto route_body;
    }
    sreq.method = (struct cf_str){ http_method_str(req->method),
                                   strlen(http_method_str(req->method)) };
    sreq.path = req->path;
    sreq.query = req->query;
    sreq.hdrs = req->hdrs;
    sreq.nhdrs = (size_t)req->nhdrs;
    ar = gw_sigv4_verify(&sreq, cf_now_ms() / 1000, secret_lookup, req,
                         &req->auth, msg, sizeof(msg));
    if (ar != GW_AUTH_OK && ar != GW_AUTH_ANONYMOUS) auth_failed(req, ar);
    if (ar == GW_AUTH_ANONYMOUS) {
        /* Anonymous requests reach only what a bucket's policy or a
         * public-read ACL opens (gw_policy.c); never the service-level
         * calls, the admin API, or a signed-chunk body they cannot sign. */
        const char *cs = gw_req_header(req, "x-amz-content-sha256", NULL);
        if (req->bucket[0] == '\0' || req->op == GW_OP_CREATE_BUCKET ||
            req->op == GW_OP_ADMIN ||
            (cs && strncasecmp(cs, "STREAMING-", 10) == 0)) {
            gw_resp_error(&req->resp, GW_E_ACCESS_DENIED, NULL);
            auth_refused(req);
            return;
        }
        req->principal = NULL;
        req->is_admin = 0;
        goto checked;
    }
    if (ar != GW_AUTH_OK) {
        enum gw_err e = auth_error(ar);
        if (ar == GW_AUTH_MALFORMED && req->auth.presigned)
            e = GW_E_AUTH_QUERY_ERROR;
        if (ar == GW_AUTH_MALFORMED && gw_req_header(req, "authorization",
                                                     NULL) == NULL)
            e = GW_E_AUTH_QUERY_ERROR;
        gw_resp_error(&req->resp, e, msg[0] ? msg : NULL);
        auth_refused(req);
        return;
    }
    if (strcmp(req->auth.region, req->srv->conf->region) != 0) {
        /* As AWS: a credential scoped to another region is refused. */
        snprintf(msg, sizeof(msg), "The authorization header is malformed; "
                 "the region '%s' is wrong; expecting '%s'", req->auth.region,
                 req->srv->conf->region);
        gw_resp_error(&req->resp, req->auth.presigned
                                      ? GW_E_AUTH_QUERY_ERROR
                                      : GW_E_AUTH_HEADER_MALFORMED,
                      msg);
        auth_refused(req);
        return;
    }
    /* secret_lookup filled req->user with the signer */
    cf_check(strcmp(req->user.access_key, req->auth.access_key) == 0);
    req->principal = req->user.name;
    req->is_admin = req->user.admin;
checked:
    if (gw_sse_check_headers(req) != 0) {
        req_fail_early(req);
        return;
    }

route_body:
    switch (req->op) {
    case GW_OP_CREATE_BUCKET:
    case GW_OP_DELETE_OBJECTS:
    case GW_OP_COMPLETE_MPU:
    case GW_OP_PUT_VERSIONING:
    case GW_OP_PUT_LOCK_CONFIG:
    case GW_OP_PUT_RETENTION:
    case GW_OP_PUT_LEGAL_HOLD:
    case GW_OP_PUT_TAGGING:
    case GW_OP_PUT_CORS:
    case GW_OP_PUT_BUCKET_TAGGING:
    case GW_OP_PUT_BUCKET_ENCRYPTION:
    case GW_OP_PUT_BUCKET_POLICY:
    case GW_OP_PUT_PAB:
    case GW_OP_PUT_BUCKET_ACL:
    case GW_OP_PUT_OBJECT_ACL:
    case GW_OP_ADMIN: /* JSON bodies, bounded the same way */
    case GW_OP_PUT_LIFECYCLE:
        req->body_kind = GW_BODY_XML;
        if (req->content_length != UINT64_MAX &&
            req->content_length > req->srv->conf->max_xml_bytes) {
            gw_resp_error(&req->resp, GW_E_MAX_MESSAGE_LENGTH, NULL);
            gw_req_respond(req);
            return;
        }
        gw_req_continue_body(req);
        break;
    case GW_OP_PUT_OBJECT:
    case GW_OP_UPLOAD_PART:
        req->body_kind = GW_BODY_STREAM;
        gw_h_put_prepare(req);
        break;
    case GW_OP_NONE:
    case GW_OP_NOT_IMPLEMENTED:
        gw_resp_error(&req->resp, GW_E_NOT_IMPLEMENTED, NULL);
        req_fail_early(req);
        break;
    default:
        /* Body-less operations: read to the end of the message (any body
         * is discarded), then run the handler. */
        req->body_kind = GW_BODY_DISCARD;
        gw_req_continue_body(req);
        break;
    }
}

/* The whole request message has been received. */
static void req_body_complete(struct gw_req *req)
{
    req->state = GW_RS_COMMIT;
    if (req->resp.err != GW_E_NONE) { /* decided early, see above */
        gw_req_respond(req);
        return;
    }
    switch (req->op) {
    case GW_OP_LIST_BUCKETS: gw_h_list_buckets(req); break;
    case GW_OP_HEAD_BUCKET: gw_h_head_bucket(req); break;
    case GW_OP_DELETE_BUCKET: gw_h_delete_bucket(req); break;
    case GW_OP_GET_BUCKET_LOCATION: gw_h_get_bucket_location(req); break;
    case GW_OP_LIST_OBJECTS:
    case GW_OP_LIST_OBJECTS_V2: gw_h_list_objects(req); break;
    case GW_OP_CREATE_BUCKET: gw_h_create_bucket(req); break;
    case GW_OP_DELETE_OBJECTS: gw_h_delete_objects(req); break;
    case GW_OP_PUT_OBJECT:
    case GW_OP_UPLOAD_PART: gw_put_body_end(req); break;
    case GW_OP_CREATE_MPU: gw_h_create_mpu(req); break;
    case GW_OP_COMPLETE_MPU: gw_h_complete_mpu(req); break;
    case GW_OP_ABORT_MPU: gw_h_abort_mpu(req); break;
    case GW_OP_LIST_PARTS: gw_h_list_parts(req); break;
    case GW_OP_LIST_UPLOADS: gw_h_list_uploads(req); break;
    case GW_OP_PUT_VERSIONING: gw_h_put_versioning(req); break;
    case GW_OP_GET_VERSIONING: gw_h_get_versioning(req); break;
    case GW_OP_LIST_VERSIONS: gw_h_list_versions(req); break;
    case GW_OP_PUT_LOCK_CONFIG: gw_h_put_lock_config(req); break;
    case GW_OP_COPY_OBJECT: gw_h_copy_object(req); break;
    case GW_OP_PUT_TAGGING: gw_h_put_tagging(req); break;
    case GW_OP_GET_TAGGING: gw_h_get_tagging(req); break;
    case GW_OP_DELETE_TAGGING: gw_h_delete_tagging(req); break;
    case GW_OP_GET_LOCK_CONFIG: gw_h_get_lock_config(req); break;
    case GW_OP_PUT_RETENTION: gw_h_put_retention(req); break;
    case GW_OP_GET_RETENTION: gw_h_get_retention(req); break;
    case GW_OP_PUT_LEGAL_HOLD: gw_h_put_legal_hold(req); break;
    case GW_OP_GET_LEGAL_HOLD: gw_h_get_legal_hold(req); break;
    case GW_OP_GET_ATTRIBUTES: gw_h_get_attributes(req); break;
    case GW_OP_GET_OBJECT:
    case GW_OP_HEAD_OBJECT: gw_h_get_object(req); break;
    case GW_OP_DELETE_OBJECT: gw_h_delete_object(req); break;
    case GW_OP_PUT_CORS: gw_h_put_cors(req); break;
    case GW_OP_PUT_LIFECYCLE: gw_h_put_lifecycle(req); break;
    case GW_OP_GET_LIFECYCLE: gw_h_get_lifecycle(req); break;
    case GW_OP_DELETE_LIFECYCLE: gw_h_delete_lifecycle(req); break;
    case GW_OP_GET_CORS: gw_h_get_cors(req); break;
    case GW_OP_DELETE_CORS: gw_h_delete_cors(req); break;
    case GW_OP_CORS_PREFLIGHT: gw_h_cors_preflight(req); break;
    case GW_OP_UPLOAD_PART_COPY: gw_h_upload_part_copy(req); break;
    case GW_OP_PUT_BUCKET_TAGGING: gw_h_put_bucket_tagging(req); break;
    case GW_OP_GET_BUCKET_TAGGING: gw_h_get_bucket_tagging(req); break;
    case GW_OP_DELETE_BUCKET_TAGGING: gw_h_delete_bucket_tagging(req); break;
    case GW_OP_PUT_BUCKET_ENCRYPTION: gw_h_put_bucket_encryption(req); break;
    case GW_OP_PUT_BUCKET_POLICY: gw_h_put_bucket_policy(req); break;
    case GW_OP_ADMIN: gw_h_admin(req); break;
    case GW_OP_PUT_PAB: gw_h_put_pab(req); break;
    case GW_OP_PUT_BUCKET_ACL: gw_h_put_bucket_acl(req); break;
    case GW_OP_GET_BUCKET_ACL: gw_h_get_bucket_acl(req); break;
    case GW_OP_PUT_OBJECT_ACL: gw_h_put_object_acl(req); break;
    case GW_OP_GET_OBJECT_ACL: gw_h_get_object_acl(req); break;
    case GW_OP_GET_PAB: gw_h_get_pab(req); break;
    case GW_OP_DELETE_PAB: gw_h_delete_pab(req); break;
    case GW_OP_GET_BUCKET_POLICY: gw_h_get_bucket_policy(req); break;
    case GW_OP_DELETE_BUCKET_POLICY: gw_h_delete_bucket_policy(req); break;
    case GW_OP_GET_BUCKET_ENCRYPTION: gw_h_get_bucket_encryption(req); break;
    case GW_OP_DELETE_BUCKET_ENCRYPTION:
        gw_h_delete_bucket_encryption(req);
        break;
    default:
        gw_resp_error(&req->resp, GW_E_NOT_IMPLEMENTED, NULL);
        gw_req_respond(req);
        break;
    }
}

/* ---- requests that time out ----
 * A client that stops sending in the middle of a request head or body
 * (header_timeout, body_timeout, body_min_rate) gets AWS's 400
 * RequestTimeout, then the connection is closed. Its unread input is
 * discarded; it has body_timeout seconds to read the answer. Returns 0
 * when answered, -1 when the request cannot be answered now (none, a job
 * running, already answering): the caller closes. */
static int req_timed_out(struct gw_conn *conn, const char *msg)
{
    struct gw_req *req = conn->req;
    struct timeval wt;

    if (conn->bev == NULL || conn->lingering || conn->closing ||
        req == NULL || req->job_busy || req->resp.err != GW_E_NONE ||
        (req->state != GW_RS_HEAD && req->state != GW_RS_BODY))
        return -1;
    if (req->state == GW_RS_HEAD && req->head.len == 0 && req->url_len == 0)
        return -1; /* nothing of a request yet: an idle connection */
    wt.tv_sec = req->srv->conf->body_timeout_s;
    wt.tv_usec = 0;
    evtimer_del(conn->timer);
    if (conn->rate_timer) evtimer_del(conn->rate_timer);
    gw_resp_error(&req->resp, GW_E_REQUEST_TIMEOUT, msg);
    req->close_after = 1;
    bufferevent_disable(conn->bev, EV_READ);
    evbuffer_drain(bufferevent_get_input(conn->bev),
                   evbuffer_get_length(bufferevent_get_input(conn->bev)));
    bufferevent_set_timeouts(conn->bev, NULL, &wt);
    gw_req_respond(req);
    return 0;
}

/* ---- trickled bodies (limits.body_min_rate) ----
 * Every body_timeout seconds of a body, the client must have delivered
 * body_min_rate * body_timeout bytes in that window; the idle timeout
 * alone lets a client keep a request (and its stripe buffers) forever by
 * sending a byte now and then. A window in which the server itself held
 * input back (stripe buffers busy, a job running) is not judged. */

static void rate_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *conn = arg;
    const struct conf *cf = conn->loop->srv->conf;
    struct timeval tv = { cf->body_timeout_s, 0 };
    uint64_t want = (uint64_t)cf->body_min_rate * (uint64_t)cf->body_timeout_s;

    if (conn->bev == NULL || conn->req == NULL ||
        conn->req->state != GW_RS_BODY)
        return; /* the body is over: nothing to judge */
    size_t inlen = evbuffer_get_length(bufferevent_get_input(conn->bev));
    /* What the client delivered in this window: what was parsed, plus
     * what waits unparsed beyond what waited at the start. */
    uint64_t arrived = conn->rate_bytes + inlen - conn->rate_inlen;

    if (conn->rate_bytes + inlen < conn->rate_inlen) arrived = 0;
    /* Input the read callback should already have taken (at or above the
     * low watermark) and did not: the server is behind, not the client.
     * Less than that is the client's, waiting for more. */
    if (inlen > 0 && inlen >= conn->lowmark) conn->rate_held = 1;
    if (!conn->rate_held && arrived < want &&
        !conn->req->message_complete) {
        cf_log(CF_LOG_INFO, "conn=%llu body slower than %zu bytes/s over "
               "%ds (%llu bytes): closing",
               (unsigned long long)conn->id, cf->body_min_rate,
               cf->body_timeout_s, (unsigned long long)arrived);
        if (req_timed_out(conn, "The request body arrived slower than the "
                          "server's minimum rate.") != 0)
            conn_close(conn);
        return;
    }
    conn->rate_bytes = 0;
    conn->rate_held = 0;
    conn->rate_inlen = inlen;
    evtimer_add(conn->rate_timer, &tv);
}

static void rate_start(struct gw_conn *conn)
{
    const struct conf *cf = conn->loop->srv->conf;
    struct timeval tv = { cf->body_timeout_s, 0 };

    if (cf->body_min_rate == 0) return;
    if (conn->rate_timer == NULL)
        conn->rate_timer = evtimer_new(conn->loop->base, rate_cb, conn);
    if (conn->rate_timer == NULL) return; /* no minimum for this one */
    conn->rate_bytes = 0;
    conn->rate_held = 0;
    conn->rate_inlen = conn->bev
                           ? evbuffer_get_length(bufferevent_get_input(conn->bev))
                           : 0;
    evtimer_add(conn->rate_timer, &tv);
}

/* The request may consume its body now: 100-continue, then read. Called
 * from req_start or from a prepare job's done callback. */
void gw_req_continue_body(struct gw_req *req)
{
    struct gw_conn *conn = req->conn;
    struct timeval tv = { req->srv->conf->body_timeout_s, 0 };

    if (conn == NULL || conn->bev == NULL) return;
    req->state = GW_RS_BODY;
    if (req->expect_continue && !req->message_complete)
        evbuffer_add_printf(bufferevent_get_output(conn->bev),
                            "HTTP/1.1 100 Continue\r\n\r\n");
    bufferevent_set_timeouts(conn->bev, &tv, NULL);
    rate_start(conn);
    http_parser_pause(&conn->parser, 0);
    conn->paused = 0;
    if (!conn->in_read) conn_process(conn);
}

void gw_req_body_resume(struct gw_req *req)
{
    if (req->conn && req->state == GW_RS_BODY && !req->conn->in_read)
        conn_process(req->conn);
}

/* How many raw body bytes may be handed to the parser now. */
static size_t body_room(struct gw_req *req)
{
    struct gw_put *pu = &req->put;
    size_t bs;

    if (req->body_kind != GW_BODY_STREAM) return GW_FEED_MAX;
    bs = gw_put_block_cap(req);
    if (pu->cur == NULL) {
        if (pu->held >= GW_PUT_BUFS) return 0;
        pu->cur = cf_pool_get(req->srv->pool);
        if (pu->cur == NULL) return 0;
        pu->cur_len = 0;
        pu->held++;
    }
    return bs - pu->cur_len;
}

static void pool_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *conn = arg;
    if (conn->req) gw_req_body_resume(conn->req);
}

static void header_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *conn = arg;
    cf_log(CF_LOG_INFO, "conn=%llu request head not complete in %ds: closing",
           (unsigned long long)conn->id,
           conn->loop->srv->conf->header_timeout_s);
    if (conn->req && conn->req->job_busy) return;
    if (req_timed_out(conn, "The request head did not arrive within the "
                      "timeout period.") != 0)
        conn_close(conn);
}

static void handshake_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *conn = arg;
    cf_log(CF_LOG_INFO, "conn=%llu tls handshake not complete in %ds: "
           "closing", (unsigned long long)conn->id,
           conn->loop->srv->conf->header_timeout_s);
    conn_close(conn);
}

/* While a body of known length streams in, the read callback waits for
 * GW_BODY_LOWMARK bytes (or the rest of the body, when less): a fast
 * sender would otherwise wake the loop every few KiB (measured: 4 KiB a
 * callback over loopback), each wake-up a round of event-base locks and a
 * parser pass. Between requests, and for chunked bodies, any byte wakes
 * it. rate_cb() counts bytes waiting below the mark as delivered. */
#define GW_BODY_LOWMARK ((size_t)64 * 1024)
static void read_lowmark(struct gw_conn *conn)
{
    struct gw_req *req = conn->req;
    size_t low = 0, high = conn->loop->srv->conf->buffer_size;

    if (conn->bev == NULL || conn->lingering) return;
    if (req != NULL && req->state == GW_RS_BODY && !conn->closing &&
        !(conn->parser.flags & F_CHUNKED) &&
        conn->parser.content_length != ULLONG_MAX) {
        uint64_t rest = conn->parser.content_length;
        low = rest < GW_BODY_LOWMARK ? (size_t)rest : GW_BODY_LOWMARK;
        if (low > high / 2) low = high / 2;
    }
    if (low != conn->lowmark) {
        bufferevent_setwatermark(conn->bev, EV_READ, low, high);
        conn->lowmark = low;
    }
}

/* Feeds buffered input to the parser as far as the current state allows. */
static void conn_process(struct gw_conn *conn)
{
    struct evbuffer *in;

    if (conn->bev == NULL || conn->closing) return;
    in = bufferevent_get_input(conn->bev);
    conn->in_read = 1;
    while (conn->bev != NULL && !conn->closing) {
        struct gw_req *req = conn->req;
        size_t avail = evbuffer_get_length(in), room, n, parsed;
        struct evbuffer_iovec vec;
        enum http_errno herr;

        if (req == NULL) {
            struct timeval idle = { conn->loop->srv->conf->idle_timeout_s, 0 };
            if (avail == 0) {
                bufferevent_set_timeouts(conn->bev, &idle, &idle);
                break;
            }
            req = conn->req = req_new(conn);
            if (req == NULL) {
                conn_close(conn);
                break;
            }
            gw_conn_timer(conn, header_timeout_cb,
                          conn->loop->srv->conf->header_timeout_s * 1000L);
        }
        if (req->state == GW_RS_PREPARE || req->state >= GW_RS_COMMIT ||
            (req->job_busy && req->state != GW_RS_BODY))
            break;
        if (avail == 0) break;
        if (req->state == GW_RS_BODY && (conn->paused || req->job_busy))
            conn->rate_held = 1; /* input waits for the server */
        if (conn->paused) break;
        room = req->state == GW_RS_BODY ? body_room(req) : GW_FEED_MAX;
        if (room == 0) {
            conn->rate_held = 1;
            /* Pool exhausted: retry shortly (a block may come back from any
             * loop). Per-upload caps resume from the job's done. */
            if (req->put.held < GW_PUT_BUFS)
                gw_conn_timer(conn, pool_retry_cb, 5);
            break;
        }
        if (evbuffer_peek(in, -1, NULL, &vec, 1) < 1) break;
        n = vec.iov_len < room ? vec.iov_len : room;
        parsed = http_parser_execute(&conn->parser, &parser_settings,
                                     vec.iov_base, n);
        herr = HTTP_PARSER_ERRNO(&conn->parser);
        if (herr == HPE_PAUSED) {
            /* Paused by on_headers_complete or on_message_complete. */
            evbuffer_drain(in, parsed);
            if (req->state == GW_RS_PREPARE && !req->started) {
                req->started = 1;
                req_start(req);
            } else if (req->message_complete && req->state == GW_RS_BODY) {
                req_body_complete(req);
            }
            continue;
        }
        if (herr != HPE_OK) {
            if (req->body_error || req->resp.err != GW_E_NONE) {
                /* A handler refused the body (limits, bad framing). */
            } else if (req->head_overflow) {
                gw_resp_error(&req->resp, GW_E_HEADER_TOO_LARGE, NULL);
            } else if (req->too_many_headers) {
                gw_resp_error(&req->resp, GW_E_HEADER_TOO_LARGE,
                              "Too many request headers.");
            } else if (herr == HPE_HEADER_OVERFLOW) {
                gw_resp_error(&req->resp, GW_E_HEADER_TOO_LARGE, NULL);
            } else if (req->state == GW_RS_BODY) {
                gw_resp_error(&req->resp, GW_E_INCOMPLETE_BODY,
                              http_errno_description(herr));
            } else {
                gw_resp_error(&req->resp, GW_E_BAD_REQUEST,
                              http_errno_description(herr));
            }
            req->close_after = 1;
            evbuffer_drain(in, evbuffer_get_length(in));
            if (req->job_busy) {
                /* Answer once the running job is back (put done checks). */
                req->put.fail = req->resp.err;
                break;
            }
            gw_req_respond(req);
            break;
        }
        evbuffer_drain(in, parsed);
        if (parsed < n) break; /* should not happen without an error */
    }
    conn->in_read = 0;
    if (conn->bev == NULL) {
        conn_maybe_free(conn); /* closed while parsing */
        return;
    }
    read_lowmark(conn);
}

/* ---- connection events ---- */

/* Closing with unread input makes the kernel send RST, which can destroy
 * the response the client has not read yet. So: send FIN, read and discard
 * for a short while, then close (Apache's "lingering close"). */
#define GW_LINGER_S 2
static void conn_linger(struct gw_conn *conn)
{
    struct timeval tv = { GW_LINGER_S, 0 };
    struct evbuffer *in;

    if (conn->bev == NULL) return;
    if (conn->lingering) return;
    conn->lingering = 1;
    if (conn->tls) {
        /* close_notify first, written straight to the socket: the output
         * buffer is empty, so it follows the last response record. */
        SSL *ssl = bufferevent_openssl_get_ssl(conn->bev);
        if (ssl != NULL && SSL_is_init_finished(ssl)) (void)SSL_shutdown(ssl);
        ERR_clear_error();
    }
    shutdown(bufferevent_getfd(conn->bev), SHUT_WR);
    in = bufferevent_get_input(conn->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    bufferevent_set_timeouts(conn->bev, &tv, NULL);
    bufferevent_setwatermark(conn->bev, EV_READ, 0, 0);
    bufferevent_enable(conn->bev, EV_READ);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct gw_conn *conn = arg;
    if (conn->lingering) {
        struct evbuffer *in = bufferevent_get_input(bev);
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    conn_process(conn);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct gw_conn *conn = arg;
    struct gw_req *req = conn->req;

    if (req && req->resp.streamed && req->state == GW_RS_RESPOND &&
        !req->job_busy)
        gw_get_next(req);
    if (conn->closing && (conn->req == NULL) &&
        evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        conn_linger(conn);
}

/* TLS failures are the client's business (a plain HTTP request on this
 * port, an old protocol, a certificate it does not trust): debug level, so
 * a scanner cannot flood the log. */
static void conn_log_tls_error(struct gw_conn *conn, struct bufferevent *bev)
{
    const char *what = conn->handshaken ? "" : " handshake failed";
    unsigned long e;
    char buf[256], eb[128];
    int n = 0, err = EVUTIL_SOCKET_ERROR();

    while ((e = bufferevent_get_openssl_error(bev)) != 0) {
        /* libevent also queues SSL_get_error()'s code (library 0): the
         * OpenSSL errors beside it say more. */
        if (ERR_GET_LIB(e) == 0 || CF_LOG_DEBUG > cf_log_verbosity) continue;
        ERR_error_string_n(e, buf, sizeof(buf));
        cf_log(CF_LOG_DEBUG, "conn=%llu tls%s: %s",
               (unsigned long long)conn->id, what, buf);
        n++;
    }
    if (n == 0)
        cf_log(CF_LOG_DEBUG, "conn=%llu tls%s: %s",
               (unsigned long long)conn->id, what,
               err ? cf_strerror(err, eb, sizeof(eb))
                   : "connection closed by the client");
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct gw_conn *conn = arg;
    if (what & BEV_EVENT_CONNECTED) {
        /* TLS handshake done: from here the usual idle and header
         * timeouts apply (a request may already have armed its own). */
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        conn->handshaken = 1;
        if (conn->req == NULL) evtimer_del(conn->timer);
        if (ssl != NULL)
            cf_log(CF_LOG_DEBUG, "conn=%llu tls: %s %s",
                   (unsigned long long)conn->id, SSL_get_version(ssl),
                   SSL_get_cipher_name(ssl));
        return;
    }
    if (conn->tls && (what & BEV_EVENT_ERROR)) conn_log_tls_error(conn, bev);
    if (what & BEV_EVENT_TIMEOUT)
        cf_log(CF_LOG_INFO, "conn=%llu %s timeout: closing",
               (unsigned long long)conn->id,
               (what & BEV_EVENT_READING) ? "read" : "write");
    /* A client that stops sending in the middle of a request is told so
     * (an idle keep-alive connection is just closed, as AWS does). */
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
        req_timed_out(conn, NULL) == 0)
        return;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        conn_close(conn);
}

static void conn_maybe_free(struct gw_conn *conn)
{
    if (conn->bev != NULL) return;
    if (conn->req != NULL) {
        if (conn->req->job_busy) return;
        req_free(conn->req);
        conn->req = NULL;
    }
    if (conn->timer) {
        event_free(conn->timer);
        conn->timer = NULL;
    }
    if (conn->rate_timer) {
        event_free(conn->rate_timer);
        conn->rate_timer = NULL;
    }
    addr_release(conn);
    atomic_fetch_sub(&conn->loop->srv->nconns, 1);
    free(conn);
}

static void conn_close(struct gw_conn *conn)
{
    if (conn->bev) {
        bufferevent_free(conn->bev);
        conn->bev = NULL;
    }
    if (conn->timer) evtimer_del(conn->timer);
    if (conn->rate_timer) evtimer_del(conn->rate_timer);
    if (conn->req && !conn->req->job_busy) {
        gw_req_handler_cleanup(conn->req);
        if (conn->req->job_busy) return; /* an abort job was posted */
    }
    /* When conn_process is on the stack it sees bev == NULL, stops, and
     * frees the connection itself. */
    if (!conn->in_read) conn_maybe_free(conn);
}

/* ---- connections per address (limits.max_connections_per_address) ----
 * IPv4 addresses (and IPv4-mapped IPv6) count one by one, IPv6 by /64: a
 * single host usually holds a whole /64. */

static int addr_key(const struct sockaddr *sa, unsigned char key[16])
{
    memset(key, 0, 16);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &in->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            memcpy(key, &in6->sin6_addr, 16);
        else
            memcpy(key, &in6->sin6_addr, 8);
        return 0;
    }
    return -1;
}

static size_t addr_bucket(const unsigned char key[16])
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    int i;
    for (i = 0; i < 16; i++) h = (h ^ key[i]) * 1099511628211ull;
    return (size_t)(h % GW_ADDR_BUCKETS);
}

/* Counts conn against its address: 0, or -1 when the address is at its
 * limit (or out of memory); conn->addr_held says whether to release. */
static int addr_acquire(struct gw_server *srv, struct gw_conn *conn,
                        const struct sockaddr *sa)
{
    struct gw_addr_count **pp, *e;
    int max = srv->conf->max_conns_per_addr, rc = 0;

    if (max == 0 || sa == NULL || addr_key(sa, conn->addr) != 0) return 0;
    pthread_mutex_lock(&srv->addr_lock);
    pp = &srv->addr_tab[addr_bucket(conn->addr)];
    for (e = *pp; e && memcmp(e->a, conn->addr, 16) != 0; e = e->next) {}
    if (e == NULL) {
        e = calloc(1, sizeof(*e));
        if (e == NULL) {
            rc = -1;
            goto out;
        }
        memcpy(e->a, conn->addr, 16);
        e->next = *pp;
        *pp = e;
    }
    if (e->n >= max) {
        rc = -1;
        goto out;
    }
    e->n++;
    conn->addr_held = 1;
out:
    pthread_mutex_unlock(&srv->addr_lock);
    return rc;
}

static void addr_release(struct gw_conn *conn)
{
    struct gw_server *srv = conn->loop->srv;
    struct gw_addr_count **pp, *e;

    if (!conn->addr_held) return;
    conn->addr_held = 0;
    pthread_mutex_lock(&srv->addr_lock);
    pp = &srv->addr_tab[addr_bucket(conn->addr)];
    for (; (e = *pp) != NULL; pp = &e->next) {
        if (memcmp(e->a, conn->addr, 16) != 0) continue;
        if (--e->n == 0) {
            *pp = e->next;
            free(e);
        }
        break;
    }
    pthread_mutex_unlock(&srv->addr_lock);
}

/* ---- refused connections (limits.max_connections, _per_address) ----
 * A plain-HTTP client over a limit is told so, as AWS tells a client to
 * slow down: what it sends is read and discarded, 503 SlowDown (which SDKs
 * back off from and retry) is written straight to the socket, then the
 * connection lingers closed so the answer is not lost to a reset. At most
 * GW_REFUSALS_MAX are answered at once, for at most GW_REFUSAL_S +
 * GW_LINGER_S seconds each, each holding only its socket and a small
 * struct; beyond that, and on TLS, the socket is just closed. (A refusal
 * still pending when the server stops is not freed: the process exits.) */
#define GW_REFUSALS_MAX 64
#define GW_REFUSAL_S 1

struct gw_refusal {
    struct event *ev;
    struct gw_server *srv;
    int64_t deadline_ms;
    int answered;
};

static void refusal_end(struct gw_refusal *r, evutil_socket_t fd)
{
    event_free(r->ev);
    evutil_closesocket(fd);
    atomic_fetch_sub(&r->srv->nrefusals, 1);
    free(r);
}

static void refusal_cb(evutil_socket_t fd, short what, void *arg)
{
    static const char body[] =
        GW_XML_DECL "<Error><Code>SlowDown</Code><Message>Please reduce "
        "your request rate.</Message><Resource>/</Resource></Error>";
    struct gw_refusal *r = arg;
    char buf[4096];
    ssize_t n = -1;
    int eof = 0, i;

    /* At most 64 KiB a call: a client sending at line rate must not hold
     * the loop (the persistent event comes back for the rest). */
    for (i = 0; i < 16; i++) {
        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0) break;
    }
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                   errno != EINTR))
        eof = 1;
    if (!r->answered) {
        struct timeval tv = { GW_LINGER_S, 0 };
        int len = snprintf(buf, sizeof(buf),
                           "HTTP/1.1 503 Service Unavailable\r\n"
                           "Server: coffer\r\n"
                           "Content-Type: application/xml\r\n"
                           "Content-Length: %zu\r\n"
                           "Retry-After: 1\r\n"
                           "Connection: close\r\n\r\n%s",
                           sizeof(body) - 1, body);
        (void)send(fd, buf, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
        shutdown(fd, SHUT_WR);
        r->answered = 1;
        r->deadline_ms = cf_monotonic_ms() + GW_LINGER_S * 1000;
        if (!eof) {
            event_del(r->ev);
            event_add(r->ev, &tv);
            return;
        }
    } else if (!eof && !(what & EV_TIMEOUT) &&
               cf_monotonic_ms() < r->deadline_ms) {
        return;
    }
    refusal_end(r, fd);
}

/* Answers fd 503 SlowDown (see above), or closes it. */
static void conn_refuse(struct gw_loop *loop, evutil_socket_t fd)
{
    struct gw_server *srv = loop->srv;
    struct gw_refusal *r = NULL;
    struct timeval tv = { GW_REFUSAL_S, 0 };

    if (srv->tls != NULL ||
        atomic_fetch_add(&srv->nrefusals, 1) >= GW_REFUSALS_MAX) {
        if (srv->tls == NULL) atomic_fetch_sub(&srv->nrefusals, 1);
        evutil_closesocket(fd);
        return;
    }
    r = calloc(1, sizeof(*r));
    if (r != NULL) {
        r->srv = srv;
        r->ev = event_new(loop->base, fd, EV_READ | EV_PERSIST, refusal_cb,
                          r);
    }
    if (r == NULL || r->ev == NULL || event_add(r->ev, &tv) != 0) {
        if (r && r->ev) event_free(r->ev);
        free(r);
        evutil_closesocket(fd);
        atomic_fetch_sub(&srv->nrefusals, 1);
    }
}

enum conn_kind { CONN_S3, CONN_ADMIN_SOCK, CONN_CONSOLE };

/* A new connection on loop: CONN_ADMIN_SOCK for the admin socket (plain
 * HTTP, admin API only, see gw_admin.c; sa NULL: no per-address count),
 * CONN_CONSOLE for the console port (the S3 port's TLS, admin API only). */
static void conn_accept(struct gw_loop *loop, evutil_socket_t fd,
                        const struct sockaddr *sa, enum conn_kind kind)
{
    int admin = kind == CONN_ADMIN_SOCK;
    struct gw_server *srv = loop->srv;
    struct gw_conn *conn;
    int one = 1;
    struct timeval idle = { srv->conf->idle_timeout_s, 0 };

    if (atomic_fetch_add(&srv->nconns, 1) >= srv->conf->max_connections) {
        atomic_fetch_sub(&srv->nconns, 1);
        cf_log(CF_LOG_WARN, "max_connections (%d) reached: refusing",
               srv->conf->max_connections);
        if (admin) evutil_closesocket(fd);
        else conn_refuse(loop, fd);
        return;
    }
    conn = calloc(1, sizeof(*conn));
    if (conn == NULL) goto out_close;
    conn->loop = loop;
    if (addr_acquire(srv, conn, sa) != 0) {
        /* one log line per 10 s at most: a flood must not flood the log */
        long long now = cf_monotonic_ms(), last = atomic_load(&srv->addr_log_ms);
        if (now - last >= 10000 &&
            atomic_compare_exchange_strong(&srv->addr_log_ms, &last, now))
            cf_log(CF_LOG_WARN, "max_connections_per_address (%d) reached "
                   "by a client: refusing its new connections",
                   srv->conf->max_conns_per_addr);
        free(conn);
        atomic_fetch_sub(&srv->nconns, 1); /* never became a connection */
        conn_refuse(loop, fd);
        return;
    }
    conn->id = atomic_fetch_add(&srv->next_conn_id, 1) + 1;
    conn->admin = admin;
    conn->console = kind == CONN_CONSOLE;
    snprintf(conn->peer, sizeof(conn->peer), "?");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
                  conn->peer, sizeof(conn->peer));
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
                  conn->peer, sizeof(conn->peer));
    if (srv->tls != NULL && !admin) {
        SSL *ssl = gw_tls_ssl_new(srv->tls);
        if (ssl == NULL) goto out_free;
        conn->bev = bufferevent_openssl_socket_new(
            loop->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
            BEV_OPT_CLOSE_ON_FREE);
        if (conn->bev == NULL) {
            SSL_free(ssl);
            goto out_free;
        }
        /* A peer closing without close_notify is an ordinary EOF: HTTP
         * framing, not TLS, says where a message ends. */
        bufferevent_openssl_set_allow_dirty_shutdown(conn->bev, 1);
        conn->tls = 1;
    } else {
        conn->bev = bufferevent_socket_new(loop->base, fd,
                                           BEV_OPT_CLOSE_ON_FREE);
    }
    conn->timer = evtimer_new(loop->base, header_timeout_cb, conn);
    if (conn->bev == NULL || conn->timer == NULL) goto out_free;
    if (!admin) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    http_parser_init(&conn->parser, HTTP_REQUEST);
    conn->parser.data = conn;
    bufferevent_setcb(conn->bev, conn_read_cb, conn_write_cb, conn_event_cb,
                      conn);
    bufferevent_setwatermark(conn->bev, EV_READ, 0, srv->conf->buffer_size);
    /* libevent moves at most 16 KiB per read or write callback by default:
     * a large body would cost a callback, a parser pass and a round of
     * base locks per 16 KiB. One buffer_size per callback instead. */
    bufferevent_set_max_single_read(conn->bev, srv->conf->buffer_size);
    bufferevent_set_max_single_write(conn->bev, srv->conf->buffer_size);
    bufferevent_setwatermark(conn->bev, EV_WRITE, srv->conf->buffer_size / 2,
                             0);
    bufferevent_set_timeouts(conn->bev, &idle, &idle);
    bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
    if (conn->tls)
        gw_conn_timer(conn, handshake_timeout_cb,
                      srv->conf->header_timeout_s * 1000L);
    return;
out_free:
    if (conn->bev) bufferevent_free(conn->bev);
    else evutil_closesocket(fd);
    if (conn->timer) event_free(conn->timer);
    addr_release(conn);
    free(conn);
    atomic_fetch_sub(&srv->nconns, 1);
    return;
out_close:
    evutil_closesocket(fd);
    atomic_fetch_sub(&srv->nconns, 1);
}

static void accept_cb(struct evconnlistener *lst, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg)
{
    conn_accept(arg, fd, sa, CONN_S3);
}

static void console_accept_cb(struct evconnlistener *lst, evutil_socket_t fd,
                              struct sockaddr *sa, int salen, void *arg)
{
    conn_accept(arg, fd, sa, CONN_CONSOLE);
}

/* The admin socket: only this process's user (or root) may talk to it;
 * the file's mode 0600 says the same, SO_PEERCRED checks it again. */
static void admin_accept_cb(struct evconnlistener *lst, evutil_socket_t fd,
                            struct sockaddr *sa, int salen, void *arg)
{
    struct ucred uc;
    socklen_t ul = sizeof(uc);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) != 0 ||
        (uc.uid != geteuid() && uc.uid != 0)) {
        cf_log(CF_LOG_WARN, "admin: refused a connection to the admin "
               "socket from uid %ld", (long)uc.uid);
        evutil_closesocket(fd);
        return;
    }
    conn_accept(arg, fd, NULL, CONN_ADMIN_SOCK);
}

/* <data>/admin.sock, mode 0600, on loop 0. The catalog's lock makes this
 * the only server of the data directory, so a leftover file is stale. */
static int admin_listen(struct gw_server *srv)
{
    struct sockaddr_un sun;
    char err[128];
    int fd, n;
    mode_t old;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s",
                 srv->conf->data_dir, GW_ADMIN_SOCK);
    if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
        cf_log(CF_LOG_ERR, "admin: the path %s/%s is too long for a unix "
               "socket", srv->conf->data_dir, GW_ADMIN_SOCK);
        return -1;
    }
    snprintf(srv->admin_path, sizeof(srv->admin_path), "%s", sun.sun_path);
    unlink(sun.sun_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) goto fail;
    old = umask(0177); /* the socket is created 0600, never wider */
    n = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (n != 0 || chmod(sun.sun_path, 0600) != 0 || listen(fd, 64) != 0)
        goto fail;
    srv->admin_listener = evconnlistener_new(
        srv->loops[0].base, admin_accept_cb, &srv->loops[0],
        LEV_OPT_CLOSE_ON_FREE, -1, fd);
    if (srv->admin_listener == NULL) goto fail;
    return 0;
fail:
    cf_log(CF_LOG_ERR, "admin: cannot listen on %s: %s", sun.sun_path,
           cf_strerror(errno, err, sizeof(err)));
    if (fd >= 0 && srv->admin_listener == NULL) close(fd);
    srv->admin_path[0] = '\0';
    return -1;
}

static int resolve(const char *addr, struct sockaddr_storage *ss,
                   int *sslen);

/* console_listen, on loop 0 ("off": none). The console port carries the
 * S3 port's TLS settings (the same SSL_CTX, so a SIGHUP reload covers
 * both) and serves the admin API; the web console is not built yet. */
static int console_listen(struct gw_server *srv)
{
    struct sockaddr_storage ss;
    int sslen;
    char err[128];
    const char *addr = srv->conf->console_listen;

    if (addr == NULL || strcmp(addr, "off") == 0) return 0;
    if (resolve(addr, &ss, &sslen) != 0) {
        cf_log(CF_LOG_ERR, "console: cannot use console_listen address "
               "'%s'", addr);
        return -1;
    }
    srv->console_listener = evconnlistener_new_bind(
        srv->loops[0].base, console_accept_cb, &srv->loops[0],
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        128, (struct sockaddr *)&ss, sslen);
    if (srv->console_listener == NULL) {
        cf_log(CF_LOG_ERR, "console: cannot listen on %s: %s "
               "(console_listen, --console-listen; off: no console port)",
               addr, cf_strerror(errno, err, sizeof(err)));
        return -1;
    }
    return 0;
}

/* ---- server ---- */

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_loop *loop = arg;
    event_base_loopbreak(loop->base);
}

static void *loop_main(void *arg)
{
    struct gw_loop *loop = arg;
    event_base_dispatch(loop->base);
    return NULL;
}

static int resolve(const char *addr, struct sockaddr_storage *ss, int *sslen)
{
    char host[256];
    int port;
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

    if (conf_parse_addr(addr, host, sizeof(host), &port) != 0) return -1;
    memset(ss, 0, sizeof(*ss));
    if (strcmp(host, "localhost") == 0) snprintf(host, sizeof(host), "%s",
                                                 "127.0.0.1");
    if (host[0] == '\0' || strcmp(host, "*") == 0) snprintf(host, sizeof(host),
                                                            "%s", "0.0.0.0");
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *sslen = sizeof(*in4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *sslen = sizeof(*in6);
        return 0;
    }
    return -1;
}

enum gw_status gw_server_new(const struct conf *conf, struct meta_db *db,
                             struct ec_set *set, struct iam *iam,
                             const unsigned char master[32],
                             struct gw_server **out)
{
    struct gw_server *srv;
    struct sockaddr_storage ss;
    int sslen, i;
    size_t nblocks;

    if (evthread_use_pthreads() != 0) return GW_EIO;
    gw_xml_init();
    signal(SIGPIPE, SIG_IGN);
    if (resolve(conf->listen, &ss, &sslen) != 0) {
        cf_log(CF_LOG_ERR, "gw: cannot use listen address '%s'",
               conf->listen);
        return GW_EINVAL;
    }
    srv = calloc(1, sizeof(*srv));
    if (srv == NULL) return GW_ENOMEM;
    srv->conf = conf;
    srv->db = db;
    srv->set = set;
    pthread_mutex_init(&srv->addr_lock, NULL);
    pthread_mutex_init(&srv->refusal_lock, NULL);
    atomic_init(&srv->addr_log_ms, -100000);
    memcpy(srv->sse_master, master, sizeof(srv->sse_master));
    if (gw_master_key_check(db, srv->sse_master) != GW_OK) {
        gw_server_free(srv); /* nothing else is set up yet */
        return GW_EINVAL;
    }
    srv->sse_master_id = gw_master_key_id(srv->sse_master);
    if (conf->tls_enabled && gw_tls_new(conf, &srv->tls) != GW_OK) {
        gw_server_free(srv); /* nothing else is set up yet */
        return GW_EINVAL;
    }
    srv->iam = iam;
    /* Blocks for stripes: enough for every loop to run several uploads and
     * downloads at once; RSS only grows by the blocks actually touched. */
    nblocks = (size_t)conf->io_threads * 4 + (size_t)conf->max_threads * 8;
    if (nblocks < 32) nblocks = 32;
    srv->pool = cf_pool_new(ec_set_stripe_size(set), nblocks);
    srv->workq = cf_workq_new(conf->io_threads, 4096);
    srv->nloops = conf->max_threads;
    srv->loops = calloc((size_t)srv->nloops, sizeof(*srv->loops));
    if (srv->pool == NULL || srv->workq == NULL || srv->loops == NULL)
        goto out_free;
    for (i = 0; i < srv->nloops; i++) {
        struct gw_loop *loop = &srv->loops[i];
        loop->srv = srv;
        loop->index = i;
        pthread_mutex_init(&loop->done_lock, NULL);
        loop->base = event_base_new();
        if (loop->base == NULL) goto out_free;
        loop->wake = event_new(loop->base, -1, EV_PERSIST, wake_cb, loop);
        loop->listener = evconnlistener_new_bind(
            loop->base, accept_cb, loop,
            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_EXEC,
            1024, (struct sockaddr *)&ss, sslen);
        if (loop->listener == NULL) {
            char err[128];
            cf_log(CF_LOG_ERR, "gw: cannot listen on %s: %s", conf->listen,
                   cf_strerror(errno, err, sizeof(err)));
            goto out_free;
        }
    }
    if (admin_listen(srv) != 0) goto out_free;
    if (console_listen(srv) != 0) goto out_free;
    if (pipe(srv->stop_pipe) != 0) goto out_free;
    for (i = 0; i < srv->nloops; i++) {
        srv->loops[i].stop_ev = event_new(srv->loops[i].base,
                                          srv->stop_pipe[0], EV_READ, stop_cb,
                                          &srv->loops[i]);
        event_add(srv->loops[i].stop_ev, NULL);
    }
    *out = srv;
    return GW_OK;
out_free:
    gw_server_free(srv);
    return GW_EIO;
}

enum gw_status gw_server_run(struct gw_server *srv)
{
    struct gw_lc *lc = NULL;
    int i;
    if (gw_lc_start(srv, &lc) != GW_OK)
        cf_log(CF_LOG_ERR, "lifecycle: the scanner could not start; no "
               "lifecycle rule will be applied");
    for (i = 1; i < srv->nloops; i++)
        pthread_create(&srv->loops[i].thread, NULL, loop_main,
                       &srv->loops[i]);
    loop_main(&srv->loops[0]);
    for (i = 1; i < srv->nloops; i++) pthread_join(srv->loops[i].thread, NULL);
    gw_lc_stop(lc);
    return GW_OK;
}

void gw_server_on_degraded(struct gw_server *srv, gw_degraded_fn fn,
                           void *arg)
{
    srv->on_degraded = fn;
    srv->on_degraded_arg = arg;
}

void gw_server_stop(struct gw_server *srv)
{
    char c = 'x';
    atomic_store(&srv->stopping, 1);
    /* Async-signal-safe: a byte on the pipe wakes every loop. */
    if (write(srv->stop_pipe[1], &c, 1) < 0) return;
}

void gw_server_reload_tls(struct gw_server *srv)
{
    if (srv != NULL) gw_tls_reload(srv->tls);
}

int gw_server_tls_info(struct gw_server *srv, char *cert, size_t certcap,
                       int *self_signed, char *fp, size_t fpcap)
{
    char f[GW_TLS_FP_LEN];
    const char *path;

    if (srv == NULL || srv->tls == NULL) return 0;
    gw_tls_info(srv->tls, &path, self_signed, f);
    snprintf(cert, certcap, "%s", path);
    snprintf(fp, fpcap, "%s", f);
    return 1;
}

void gw_server_free(struct gw_server *srv)
{
    int i;
    if (srv == NULL) return;
    OPENSSL_cleanse(srv->sse_master, sizeof(srv->sse_master));
    if (srv->workq) cf_workq_free(srv->workq);
    if (srv->admin_listener) evconnlistener_free(srv->admin_listener);
    if (srv->console_listener) evconnlistener_free(srv->console_listener);
    for (i = 0; srv->loops && i < srv->nloops; i++) {
        struct gw_loop *loop = &srv->loops[i];
        if (loop->listener) evconnlistener_free(loop->listener);
        if (loop->wake) event_free(loop->wake);
        if (loop->stop_ev) event_free(loop->stop_ev);
        if (loop->base) event_base_free(loop->base);
        pthread_mutex_destroy(&loop->done_lock);
    }
    free(srv->loops);
    if (srv->admin_path[0]) unlink(srv->admin_path);
    for (i = 0; i < GW_ADDR_BUCKETS; i++) {
        while (srv->addr_tab[i]) {
            struct gw_addr_count *e = srv->addr_tab[i];
            srv->addr_tab[i] = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&srv->addr_lock);
    pthread_mutex_destroy(&srv->refusal_lock);
    gw_tls_free(srv->tls);
    if (srv->stop_pipe[0]) {
        close(srv->stop_pipe[0]);
        close(srv->stop_pipe[1]);
    }
    /* Blocks still referenced by open connections at exit are not
     * returned; the pool is released with the process. */
    free(srv);
}
