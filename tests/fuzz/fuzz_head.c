/* fuzz_head.c: libFuzzer target for the request head, as the server sees
 * it up to the handler: http_parser with the server's own callbacks
 * (gw_parser_settings(): URL and header collection into the bounded head
 * buffer, header count limit), then gw_route() (path and query
 * percent-decoding, path- and virtual-hosted-style bucket/key, the
 * operation) and gw_sigv4_verify() on the parsed request, as req_start()
 * in gateway/gw_server.c calls them. No socket, no event loop.
 *
 * Input: byte 0 is flags, the rest the bytes a client sends.
 *   bit 0     conf domain "s3.example.com" (virtual-hosted-style)
 *   bits 1-7  0: one read; else reads of 1..(flags >> 1) bytes, as a slow
 *             client would deliver them */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_int.h"
#include "conf.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define T0 1369353600 /* 20130524T000000Z */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct conf conf_path, conf_vhost;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char region[] = "us-east-1", domain[] = "s3.example.com";
    conf_path.max_header_bytes = 8192;
    conf_path.max_xml_bytes = 1 << 20;
    conf_path.region = region;
    conf_vhost = conf_path;
    conf_vhost.domain = domain;
    cf_log_set_level(CF_LOG_ERR);
    return 0;
}

static const char *secret(const char *ak, void *arg)
{
    (void)arg;
    return strcmp(ak, AK) == 0 ? SK : NULL;
}

/* What req_free() in gw_server.c releases for a request that never
 * reached a handler. */
static void req_release(struct gw_req *req)
{
    int i;
    gw_xbuf_cleanup(&req->head);
    gw_xbuf_cleanup(&req->xml);
    for (i = 0; i < req->nqp; i++) {
        free(req->qp[i].name);
        free(req->qp[i].value);
    }
    free(req->qp);
    free(req->key);
    gw_resp_cleanup(&req->resp);
    free(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_server srv;
    struct gw_conn conn;
    struct gw_req *req;
    const char *p = (const char *)data + 1;
    size_t left, step;
    unsigned flags;
    enum http_errno herr = HPE_OK;

    if (size < 1 || size > 16384) return 0;
    flags = data[0];
    left = size - 1;
    step = flags >> 1;
    memset(&srv, 0, sizeof(srv));
    srv.conf = (flags & 1) ? &conf_vhost : &conf_path;
    memset(&conn, 0, sizeof(conn));
    req = calloc(1, sizeof(*req));
    if (req == NULL) return 0;
    req->conn = &conn;
    req->srv = &srv;
    req->content_length = UINT64_MAX;
    conn.req = req;
    http_parser_init(&conn.parser, HTTP_REQUEST);
    conn.parser.data = &conn;

    while (left > 0) {
        size_t n = step == 0 ? left : 1 + (size_t)(p[0] & 0xff) % step;
        size_t used;
        char *piece;
        if (n > left) n = left;
        /* Each read in its own buffer: the callbacks must copy. */
        piece = malloc(n);
        if (piece == NULL) break;
        memcpy(piece, p, n);
        used =
            http_parser_execute(&conn.parser, gw_parser_settings(), piece, n);
        memset(piece, 0xa5, n);
        free(piece);
        herr = HTTP_PARSER_ERRNO(&conn.parser);
        if (herr != HPE_OK || used != n) break;
        p += n;
        left -= n;
    }
    if (herr == HPE_PAUSED && req->state == GW_RS_PREPARE &&
        gw_route(req) == 0) {
        struct gw_sigv4_req sreq;
        struct gw_sigv4_auth auth;
        char msg[256] = "";
        const char *m = http_method_str(req->method);

        if (req->op == GW_OP_NONE) abort(); /* every route picks one */
        sreq.method = (struct cf_str){m, strlen(m)};
        sreq.path = req->path;
        sreq.query = req->query;
        sreq.hdrs = req->hdrs;
        sreq.nhdrs = (size_t)req->nhdrs;
        memset(&auth, 0, sizeof(auth));
        gw_sigv4_verify(&sreq, T0, secret, NULL, &auth, msg, sizeof(msg));
    }
    req_release(req);
    return 0;
}
