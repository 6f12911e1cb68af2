/* gw_xml.c: XML out (an escaping growable buffer) and in (libxml2 with no
 * network, no entity substitution and no DTD loading).
 *
 * Out: every byte a client gave us goes through gw_xbuf_esc() or
 * gw_xbuf_urlenc(). Invariant: what they append is well-formed XML 1.0
 * character data, with one deliberate exception that S3 makes too: control
 * characters other than TAB, LF and CR become "&#xN;" references, which
 * strict XML 1.0 parsers refuse but which are the only faithful rendering of
 * such keys (clients that care ask for encoding-type=url). Bytes that are not
 * UTF-8, and the non-characters U+FFFE/U+FFFF, are written as "&#xHH;", one
 * reference per byte, i.e. read as Latin-1: the document stays well-formed,
 * and the byte values are not lost.
 *
 * In: a DOCTYPE is refused the moment the parser sees it, before its
 * internal subset (where entities would be declared) is read, which stops
 * entity-expansion bombs and external entities before they start. Without a
 * DTD, only the five predefined entities and character references exist.
 * libxml2's own limits apply too (nesting depth 256, 10 MB text nodes); the
 * caller bounds the body by max_xml_bytes before calling. Element names are
 * matched by local name, so a body with or without the S3 namespace
 * (xmlns="http://s3.amazonaws.com/doc/2006-03-01/") parses the same. Text is
 * kept exactly as the parser delivers it (no trimming): XML itself turns a
 * literal CR LF into LF, so a key with CR must arrive as "&#xD;". */
#include "gw_xml.h"
#include "cf.h"
#include "ol.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

void gw_xbuf_cleanup(struct gw_xbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

static int grow(struct gw_xbuf *b, size_t more)
{
    size_t need, cap;
    char *p;

    if (b->oom) return -1;
    if (more > SIZE_MAX / 2 - b->len) { /* absurd: treat as no memory */
        b->oom = 1;
        return -1;
    }
    need = b->len + more + 1;
    if (need <= b->cap) return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void gw_xbuf_raw(struct gw_xbuf *b, const char *s, size_t n)
{
    if (grow(b, n) != 0) return;
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void gw_xbuf_str(struct gw_xbuf *b, const char *s)
{
    gw_xbuf_raw(b, s, strlen(s));
}

void gw_xbuf_printf(struct gw_xbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || grow(b, (size_t)n) != 0) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length (1..4) of a well-formed UTF-8 sequence at s encoding an XML
 * character (not a surrogate, not U+FFFE/U+FFFF, at most U+10FFFF, shortest
 * form), or 0. Only called for s[0] >= 0x80. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t len, i;

    if ((s[0] & 0xe0) == 0xc0)
        len = 2, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n) return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
        return 0;
    return len;
}

void gw_xbuf_esc(struct gw_xbuf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0; /* run: bytes before i still to copy verbatim */
    char num[8];

    while (i < n) {
        unsigned char c = u[i];
        const char *rep = NULL;
        size_t l;

        switch (c) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        case '\t':
        case '\n':
            break; /* literal: element content keeps them */
        case '\r':
            rep = "&#xD;";
            break; /* a literal CR would read as LF */
        default:
            if (c < 0x20) {
                /* Not an XML 1.0 character even as a reference; S3
                 * writes it this way too (see the file comment). */
                snprintf(num, sizeof(num), "&#x%X;", c);
                rep = num;
            } else if (c >= 0x80) {
                l = utf8_len(u + i, n - i);
                if (l > 0) {
                    i += l;
                    run += l;
                    continue;
                }
                /* Not UTF-8: this one byte as the character of its value,
                 * so the document stays well-formed. */
                snprintf(num, sizeof(num), "&#x%X;", c);
                rep = num;
            }
        }
        if (rep == NULL) {
            i++;
            run++;
            continue;
        }
        gw_xbuf_raw(b, s + i - run, run);
        gw_xbuf_str(b, rep);
        run = 0;
        i++;
    }
    gw_xbuf_raw(b, s + n - run, run);
}

void gw_xbuf_elem(struct gw_xbuf *b, const char *name, const char *s, size_t n)
{
    gw_xbuf_printf(b, "<%s>", name);
    gw_xbuf_esc(b, s, n);
    gw_xbuf_printf(b, "</%s>", name);
}

void gw_xbuf_urlenc(struct gw_xbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
            c == '~' || c == '/') {
            gw_xbuf_raw(b, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            gw_xbuf_raw(b, e, 3);
        }
    }
}

/* ---- parsing ---- */

void gw_xml_init(void)
{
    xmlInitParser();
}

/* Parser errors are the client's mistakes: never print them. */
static void quiet_error(void *ctx, xmlErrorPtr err)
{
}

/* SAX hook run as soon as "<!DOCTYPE name ...>" is read, before any
 * internal subset: stop there. ctx is the parser context (its userData). */
static void refuse_doctype(void *ctx, const xmlChar *name,
                           const xmlChar *external_id, const xmlChar *system_id)
{
    xmlParserCtxtPtr ctxt = ctx;

    *(int *)ctxt->_private = 1;
    xmlStopParser(ctxt);
}

/* Parses body; NULL when it is not well-formed, has a DOCTYPE, or memory
 * ran out. A stopped parser still returns a (rootless) document and keeps
 * wellFormed set, hence the explicit flag. */
static xmlDocPtr parse(const char *body, size_t len)
{
    xmlParserCtxtPtr ctxt;
    xmlDocPtr doc;
    int doctype = 0;

    if (body == NULL || len == 0 || len > INT32_MAX) return NULL;
    ctxt = xmlNewParserCtxt();
    if (ctxt == NULL) return NULL;
    ctxt->_private = &doctype;
    ctxt->sax->internalSubset = refuse_doctype;
    ctxt->sax->serror = quiet_error;
    /* Deliberately absent: XML_PARSE_NOENT (substitute entities),
     * XML_PARSE_DTDLOAD / DTDATTR / DTDVALID (read a DTD), XML_PARSE_HUGE
     * (lift libxml2's size and depth limits). */
    doc = xmlCtxtReadMemory(ctxt, body, (int)len, NULL, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR |
                                XML_PARSE_NOWARNING);
    if (doc != NULL &&
        (doctype || !ctxt->wellFormed || doc->intSubset != NULL ||
         doc->extSubset != NULL || xmlDocGetRootElement(doc) == NULL)) {
        xmlFreeDoc(doc);
        doc = NULL;
    }
    xmlFreeParserCtxt(ctxt);
    return doc;
}

static int is_elem(xmlNodePtr n, const char *name)
{
    return n->type == XML_ELEMENT_NODE &&
           strcmp((const char *)n->name, name) == 0;
}

/* An element that holds only text: its text, exactly (no trimming). Child
 * elements make it malformed. Returns a malloc'd copy or NULL. */
static char *text_of(xmlNodePtr n, size_t *len, int *bad)
{
    xmlNodePtr c;
    struct gw_xbuf b = {0};

    for (c = n->children; c; c = c->next) {
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
            gw_xbuf_str(&b, (const char *)c->content);
        } else if (c->type == XML_ELEMENT_NODE) {
            *bad = 1;
        }
    }
    if (b.oom) {
        *bad = 1;
        gw_xbuf_cleanup(&b);
        return NULL;
    }
    if (b.p == NULL) {
        b.p = calloc(1, 1);
        if (b.p == NULL) *bad = 1;
    }
    *len = b.len;
    return b.p;
}

static int blank_char(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static int blank(const char *s)
{
    for (; *s; s++)
        if (!blank_char(*s)) return 0;
    return 1;
}

/* Rejects stray non-blank text between elements. */
static int only_elements(xmlNodePtr parent)
{
    xmlNodePtr c;
    for (c = parent->children; c; c = c->next)
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) &&
            !blank((const char *)c->content))
            return 0;
    return 1;
}

enum gw_xml_status gw_xml_parse_location(const char *body, size_t len,
                                         char *region, size_t regioncap)
{
    xmlDocPtr doc = parse(body, len);
    xmlNodePtr root, c;
    enum gw_xml_status st = GW_XML_MALFORMED;

    region[0] = '\0';
    if (doc == NULL) return GW_XML_MALFORMED;
    root = xmlDocGetRootElement(doc);
    if (root == NULL || !is_elem(root, "CreateBucketConfiguration") ||
        !only_elements(root))
        goto out;
    st = GW_XML_OK;
    for (c = root->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        if (is_elem(c, "LocationConstraint")) {
            size_t n;
            int bad = 0;
            char *t = text_of(c, &n, &bad);
            if (bad || n >= regioncap)
                st = GW_XML_MALFORMED;
            else
                memcpy(region, t, n + 1);
            free(t);
        }
        /* Other elements (Bucket, Location) are accepted and ignored. */
    }
out:
    xmlFreeDoc(doc);
    return st;
}

void gw_xml_delete_cleanup(struct gw_xml_delete *d)
{
    size_t i;
    for (i = 0; i < d->nobjs; i++) {
        free(d->objs[i].key);
        free(d->objs[i].version_id);
    }
    free(d->objs);
    memset(d, 0, sizeof(*d));
}

enum gw_xml_status gw_xml_parse_delete(const char *body, size_t len,
                                       struct gw_xml_delete *out)
{
    xmlDocPtr doc = parse(body, len);
    xmlNodePtr root, c, f;
    size_t cap = 0;
    int have_quiet = 0;

    memset(out, 0, sizeof(*out));
    if (doc == NULL) return GW_XML_MALFORMED;
    root = xmlDocGetRootElement(doc);
    if (root == NULL || !is_elem(root, "Delete") || !only_elements(root))
        goto bad;
    for (c = root->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        if (is_elem(c, "Quiet")) {
            size_t n;
            int b = 0;
            char *t = text_of(c, &n, &b);
            const char *v = t;
            if (b || have_quiet++) {
                free(t);
                goto bad;
            }
            /* true/false in any case, surrounding blanks allowed (a
             * pretty-printed <Quiet>\n  true\n</Quiet>) */
            while (n > 0 && blank_char(v[n - 1]))
                n--;
            while (n > 0 && blank_char(*v))
                v++, n--;
            if (n == 4 && strncasecmp(v, "true", 4) == 0)
                out->quiet = 1;
            else if (n == 5 && strncasecmp(v, "false", 5) == 0)
                out->quiet = 0;
            else {
                free(t);
                goto bad;
            }
            free(t);
        } else if (is_elem(c, "Object")) {
            struct gw_xml_del_obj o = {0};
            int b = 0, have_key = 0;
            if (out->nobjs == GW_XML_DELETE_MAX) goto bad;
            if (!only_elements(c)) goto bad;
            for (f = c->children; f; f = f->next) {
                size_t n;
                if (f->type != XML_ELEMENT_NODE) continue;
                if (is_elem(f, "Key") && !have_key) {
                    o.key = text_of(f, &o.key_len, &b);
                    have_key = 1;
                } else if (is_elem(f, "VersionId") && !o.version_id) {
                    o.version_id = text_of(f, &n, &b);
                    if (o.version_id && n == 0) {
                        free(o.version_id);
                        o.version_id = NULL;
                    }
                } else if (is_elem(f, "ETag") ||
                           is_elem(f, "LastModifiedTime") ||
                           is_elem(f, "Size")) {
                    /* conditional-delete fields: not supported, ignored */
                } else {
                    b = 1;
                }
            }
            if (b || !have_key || o.key == NULL || o.key_len == 0) {
                free(o.key);
                free(o.version_id);
                goto bad;
            }
            if (out->nobjs == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                void *np = realloc(out->objs, ncap * sizeof(*out->objs));
                if (np == NULL) {
                    free(o.key);
                    free(o.version_id);
                    xmlFreeDoc(doc);
                    gw_xml_delete_cleanup(out);
                    return GW_XML_ENOMEM;
                }
                out->objs = np;
                cap = ncap;
            }
            out->objs[out->nobjs++] = o;
        } else {
            goto bad;
        }
    }
    if (out->nobjs == 0) goto bad;
    xmlFreeDoc(doc);
    return GW_XML_OK;
bad:
    xmlFreeDoc(doc);
    gw_xml_delete_cleanup(out);
    return GW_XML_MALFORMED;
}

void gw_xml_complete_cleanup(struct gw_xml_complete *c)
{
    free(c->parts);
    memset(c, 0, sizeof(*c));
}

enum gw_xml_status gw_xml_parse_complete(const char *body, size_t len,
                                         struct gw_xml_complete *out)
{
    xmlDocPtr doc = parse(body, len);
    xmlNodePtr root, c, f;
    size_t cap = 0;

    memset(out, 0, sizeof(*out));
    if (doc == NULL) return GW_XML_MALFORMED;
    root = xmlDocGetRootElement(doc);
    if (root == NULL || !is_elem(root, "CompleteMultipartUpload") ||
        !only_elements(root))
        goto bad;
    for (c = root->children; c; c = c->next) {
        struct gw_xml_part p;
        int have_n = 0, have_e = 0;
        if (c->type != XML_ELEMENT_NODE) continue;
        if (!is_elem(c, "Part")) goto bad;
        if (out->nparts == GW_XML_PARTS_MAX || !only_elements(c)) goto bad;
        memset(&p, 0, sizeof(p));
        for (f = c->children; f; f = f->next) {
            size_t n;
            int b = 0;
            char *t;
            if (f->type != XML_ELEMENT_NODE) continue;
            t = text_of(f, &n, &b);
            if (b) {
                free(t);
                goto bad;
            }
            if (is_elem(f, "PartNumber")) {
                char *end;
                p.number = strtol(t, &end, 10);
                if (n == 0 || *end != '\0') p.number = -1;
                have_n = 1;
            } else if (is_elem(f, "ETag")) {
                const char *e = t;
                size_t el = n;
                while (el && (*e == ' ' || *e == '\n'))
                    e++, el--;
                while (el && (e[el - 1] == ' ' || e[el - 1] == '\n'))
                    el--;
                if (el >= 2 && e[0] == '"' && e[el - 1] == '"') e++, el -= 2;
                if (el >= sizeof(p.etag)) el = sizeof(p.etag) - 1;
                memcpy(p.etag, e, el);
                p.etag[el] = '\0';
                have_e = 1;
            } else if (f->name &&
                       strncmp((const char *)f->name, "Checksum", 8) == 0) {
                /* verified against the stored part by the handler */
                const char *e = t;
                size_t el = n, nl = strlen((const char *)f->name);
                if (p.csum_elem[0] || nl >= sizeof(p.csum_elem)) {
                    free(t);
                    goto bad;
                }
                memcpy(p.csum_elem, f->name, nl + 1);
                while (el && (*e == ' ' || *e == '\n'))
                    e++, el--;
                while (el && (e[el - 1] == ' ' || e[el - 1] == '\n'))
                    el--;
                if (el >= sizeof(p.csum)) el = sizeof(p.csum) - 1;
                memcpy(p.csum, e, el);
                p.csum[el] = '\0';
            }
            free(t);
        }
        if (!have_n || !have_e) goto bad;
        if (out->nparts == cap) {
            size_t nc = cap ? cap * 2 : 16;
            void *np = realloc(out->parts, nc * sizeof(*out->parts));
            if (np == NULL) {
                xmlFreeDoc(doc);
                gw_xml_complete_cleanup(out);
                return GW_XML_ENOMEM;
            }
            out->parts = np;
            cap = nc;
        }
        out->parts[out->nparts++] = p;
    }
    if (out->nparts == 0) goto bad;
    xmlFreeDoc(doc);
    return GW_XML_OK;
bad:
    xmlFreeDoc(doc);
    gw_xml_complete_cleanup(out);
    return GW_XML_MALFORMED;
}

enum gw_xml_status gw_xml_parse_versioning(const char *body, size_t len,
                                           int *enabled)
{
    xmlDocPtr doc = parse(body, len);
    xmlNodePtr root, c;
    int have = 0, bad = 0;

    if (doc == NULL) return GW_XML_MALFORMED;
    root = xmlDocGetRootElement(doc);
    if (root == NULL || !is_elem(root, "VersioningConfiguration") ||
        !only_elements(root))
        bad = 1;
    for (c = root ? root->children : NULL; c && !bad; c = c->next) {
        size_t n;
        char *t;
        if (c->type != XML_ELEMENT_NODE) continue;
        t = text_of(c, &n, &bad);
        if (t && is_elem(c, "Status")) {
            if (strcmp(t, "Enabled") == 0)
                *enabled = 1, have = 1;
            else if (strcmp(t, "Suspended") == 0)
                *enabled = 0, have = 1;
            else
                bad = 1;
        } else if (t && is_elem(c, "MfaDelete")) {
            if (strcmp(t, "Disabled") != 0) bad = 1;
        } else {
            bad = 1;
        }
        free(t);
    }
    xmlFreeDoc(doc);
    return bad || !have ? GW_XML_MALFORMED : GW_XML_OK;
}

static int text_into(xmlNodePtr n, char *out, size_t cap);

enum gw_xml_status gw_xml_parse_encryption(const char *body, size_t len,
                                           char algo[32], int *kms_key,
                                           int *bucket_key)
{
    xmlDocPtr doc = parse(body, len);
    xmlNodePtr root, rule, c, d;
    int bad = 0, rules = 0, have = 0;

    algo[0] = '\0';
    *kms_key = 0;
    *bucket_key = 0;
    if (doc == NULL) return GW_XML_MALFORMED;
    root = xmlDocGetRootElement(doc);
    if (root == NULL || !is_elem(root, "ServerSideEncryptionConfiguration") ||
        !only_elements(root))
        bad = 1;
    for (rule = root ? root->children : NULL; rule && !bad;
         rule = rule->next) {
        if (rule->type != XML_ELEMENT_NODE) continue;
        if (!is_elem(rule, "Rule") || !only_elements(rule) || rules++) {
            bad = 1;
            break;
        }
        for (c = rule->children; c && !bad; c = c->next) {
            char tmp[16];
            if (c->type != XML_ELEMENT_NODE) continue;
            if (is_elem(c, "BucketKeyEnabled")) {
                if (text_into(c, tmp, sizeof(tmp)) != 0 ||
                    (strcmp(tmp, "true") != 0 && strcmp(tmp, "false") != 0))
                    bad = 1;
                *bucket_key = strcmp(tmp, "true") == 0;
                continue;
            }
            if (!is_elem(c, "ApplyServerSideEncryptionByDefault") ||
                !only_elements(c) || have) {
                bad = 1;
                break;
            }
            for (d = c->children; d && !bad; d = d->next) {
                char kid[2048];
                if (d->type != XML_ELEMENT_NODE) continue;
                if (is_elem(d, "SSEAlgorithm") && !have)
                    bad = text_into(d, algo, 32) != 0, have = 1;
                else if (is_elem(d, "KMSMasterKeyID") && !*kms_key)
                    bad = text_into(d, kid, sizeof(kid)) != 0, *kms_key = 1;
                else
                    bad = 1;
            }
        }
    }
    xmlFreeDoc(doc);
    return bad || !have || algo[0] == '\0' ? GW_XML_MALFORMED : GW_XML_OK;
}

/* Copies an element's text into out (cap bytes); 0 or -1 (too long / has
 * child elements). */
static int text_into(xmlNodePtr n, char *out, size_t cap)
{
    size_t len;
    int bad = 0;
    char *t = text_of(n, &len, &bad);
    if (bad || t == NULL || len >= cap) {
        free(t);
        return -1;
    }
    memcpy(out, t, len + 1);
    free(t);
    return 0;
}

static long number_of(xmlNodePtr n, int *bad)
{
    char buf[32], *end;
    long v;
    if (text_into(n, buf, sizeof(buf)) != 0 || buf[0] == '\0') {
        *bad = 1;
        return 0;
    }
    v = strtol(buf, &end, 10);
    if (*end != '\0') *bad = 1;
    return v;
}

enum gw_xml_status gw_xml_parse_lock_config(const char *body, size_t len,
                                            struct gw_xml_lock_config *out)
{
    xmlDocPtr doc = parse(body, len);
    xmlNodePtr root, c, r, d;
    int bad = 0;

    memset(out, 0, sizeof(*out));
    out->days = out->years = -1;
    if (doc == NULL) return GW_XML_MALFORMED;
    root = xmlDocGetRootElement(doc);
    if (root == NULL || !is_elem(root, "ObjectLockConfiguration") ||
        !only_elements(root))
        bad = 1;
    for (c = root ? root->children : NULL; c && !bad; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        if (is_elem(c, "ObjectLockEnabled")) {
            char v[16];
            if (text_into(c, v, sizeof(v)) != 0 || strcmp(v, "Enabled") != 0)
                bad = 1;
            else
                out->enabled = 1;
        } else if (is_elem(c, "Rule")) {
            for (r = c->children; r && !bad; r = r->next) {
                if (r->type != XML_ELEMENT_NODE) continue;
                if (!is_elem(r, "DefaultRetention")) {
                    bad = 1;
                    break;
                }
                out->has_rule = 1;
                for (d = r->children; d && !bad; d = d->next) {
                    if (d->type != XML_ELEMENT_NODE) continue;
                    if (is_elem(d, "Mode")) {
                        if (text_into(d, out->mode, sizeof(out->mode)) != 0)
                            bad = 1;
                    } else if (is_elem(d, "Days")) {
                        out->days = number_of(d, &bad);
                    } else if (is_elem(d, "Years")) {
                        out->years = number_of(d, &bad);
                    } else {
                        bad = 1;
                    }
                }
            }
        } else {
            bad = 1;
        }
    }
    xmlFreeDoc(doc);
    if (!bad && out->has_rule) {
        /* AWS: Mode with exactly one of Days or Years. */
        if (out->mode[0] == '\0') bad = 1;
        if (out->days != -1 && out->years != -1) bad = 1;
        if (out->days == -1 && out->years == -1) bad = 1;
        if (strcmp(out->mode, "GOVERNANCE") != 0 &&
            strcmp(out->mode, "COMPLIANCE") != 0)
            bad = 1;
    }
    return bad ? GW_XML_MALFORMED : GW_XML_OK;
}

enum gw_xml_status gw_xml_parse_retention(const char *body, size_t len,
                                          char *mode, size_t modecap,
                                          char *until, size_t untilcap)
{
    xmlDocPtr doc = parse(body, len);
    xmlNodePtr root, c;
    int bad = 0;

    mode[0] = until[0] = '\0';
    if (doc == NULL) return GW_XML_MALFORMED;
    root = xmlDocGetRootElement(doc);
    if (root == NULL || !is_elem(root, "Retention") || !only_elements(root))
        bad = 1;
    for (c = root ? root->children : NULL; c && !bad; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        if (is_elem(c, "Mode"))
            bad = text_into(c, mode, modecap) != 0;
        else if (is_elem(c, "RetainUntilDate"))
            bad = text_into(c, until, untilcap) != 0;
        else
            bad = 1;
    }
    xmlFreeDoc(doc);
    return bad ? GW_XML_MALFORMED : GW_XML_OK;
}

enum gw_xml_status gw_xml_parse_legal_hold(const char *body, size_t len,
                                           int *on)
{
    xmlDocPtr doc = parse(body, len);
    xmlNodePtr root, c;
    int bad = 0, have = 0;

    if (doc == NULL) return GW_XML_MALFORMED;
    root = xmlDocGetRootElement(doc);
    if (root == NULL || !is_elem(root, "LegalHold") || !only_elements(root))
        bad = 1;
    for (c = root ? root->children : NULL; c && !bad; c = c->next) {
        char v[8];
        if (c->type != XML_ELEMENT_NODE) continue;
        if (!is_elem(c, "Status") || text_into(c, v, sizeof(v)) != 0) {
            bad = 1;
        } else if (strcmp(v, "ON") == 0) {
            *on = 1;
            have = 1;
        } else if (strcmp(v, "OFF") == 0) {
            *on = 0;
            have = 1;
        } else {
            bad = 1;
        }
    }
    xmlFreeDoc(doc);
    return bad || !have ? GW_XML_MALFORMED : GW_XML_OK;
}

void gw_xml_tags_cleanup(struct gw_xml_tags *t)
{
    size_t i;
    for (i = 0; i < t->n; i++) {
        free(t->tags[i].key);
        free(t->tags[i].value);
    }
    t->n = 0;
}

enum gw_xml_status gw_xml_parse_tagging(const char *body, size_t len,
                                        struct gw_xml_tags *out)
{
    xmlDocPtr doc = parse(body, len);
    xmlNodePtr root, set, t, f;
    int bad = 0;

    memset(out, 0, sizeof(*out));
    if (doc == NULL) return GW_XML_MALFORMED;
    root = xmlDocGetRootElement(doc);
    if (root == NULL || !is_elem(root, "Tagging") || !only_elements(root))
        bad = 1;
    for (set = root ? root->children : NULL; set && !bad; set = set->next) {
        if (set->type != XML_ELEMENT_NODE) continue;
        if (!is_elem(set, "TagSet") || !only_elements(set)) {
            bad = 1;
            break;
        }
        for (t = set->children; t && !bad; t = t->next) {
            char *k = NULL, *v = NULL;
            size_t n;
            if (t->type != XML_ELEMENT_NODE) continue;
            if (!is_elem(t, "Tag")) {
                bad = 1;
                break;
            }
            for (f = t->children; f && !bad; f = f->next) {
                if (f->type != XML_ELEMENT_NODE) continue;
                if (is_elem(f, "Key") && !k)
                    k = text_of(f, &n, &bad);
                else if (is_elem(f, "Value") && !v)
                    v = text_of(f, &n, &bad);
                else
                    bad = 1;
            }
            if (bad || k == NULL || v == NULL) {
                free(k);
                free(v);
                bad = 1;
                break;
            }
            if (out->n == GW_XML_TAGS_MAX) {
                /* counted, not kept: the caller answers InvalidTag */
                out->too_many = 1;
                free(k);
                free(v);
                continue;
            }
            out->tags[out->n].key = k;
            out->tags[out->n].value = v;
            out->n++;
        }
    }
    xmlFreeDoc(doc);
    if (bad) {
        gw_xml_tags_cleanup(out);
        return GW_XML_MALFORMED;
    }
    return GW_XML_OK;
}

/* ---- CORS ---- */

static void strs_free(struct gw_xml_strs *l)
{
    size_t i;
    for (i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int strs_add(struct gw_xml_strs *l, char *s)
{
    char **nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
    if (nv == NULL) return -1;
    l->v = nv;
    l->v[l->n++] = s;
    return 0;
}

void gw_xml_cors_cleanup(struct gw_xml_cors *c)
{
    size_t i;
    for (i = 0; i < c->n; i++) {
        struct gw_xml_cors_rule *r = &c->rules[i];
        free(r->id);
        strs_free(&r->origins);
        strs_free(&r->methods);
        strs_free(&r->headers);
        strs_free(&r->expose);
    }
    free(c->rules);
    c->rules = NULL;
    c->n = 0;
}

static int cors_rule(xmlNodePtr rn, struct gw_xml_cors_rule *r)
{
    xmlNodePtr f;
    int bad = 0;

    r->max_age = -1;
    if (!only_elements(rn)) return -1;
    for (f = rn->children; f && !bad; f = f->next) {
        struct gw_xml_strs *l = NULL;
        size_t n;
        char *t;
        if (f->type != XML_ELEMENT_NODE) continue;
        if (is_elem(f, "AllowedOrigin")) l = &r->origins;
        else if (is_elem(f, "AllowedMethod")) l = &r->methods;
        else if (is_elem(f, "AllowedHeader")) l = &r->headers;
        else if (is_elem(f, "ExposeHeader")) l = &r->expose;
        else if (is_elem(f, "ID") && r->id == NULL) {
            r->id = text_of(f, &n, &bad);
            continue;
        } else if (is_elem(f, "MaxAgeSeconds") && r->max_age == -1) {
            r->max_age = number_of(f, &bad);
            if (r->max_age < 0) bad = 1;
            continue;
        } else {
            return -1;
        }
        t = text_of(f, &n, &bad);
        if (t == NULL) return -1;
        if (bad || (n == 0 && l != &r->expose) || strs_add(l, t) != 0) {
            free(t);
            return -1;
        }
    }
    if (bad || r->origins.n == 0 || r->methods.n == 0) return -1;
    return 0;
}

enum gw_xml_status gw_xml_parse_cors(const char *body, size_t len,
                                     struct gw_xml_cors *out)
{
    xmlDocPtr doc = parse(body, len);
    xmlNodePtr root, rn;
    int bad = 0;

    memset(out, 0, sizeof(*out));
    if (doc == NULL) return GW_XML_MALFORMED;
    root = xmlDocGetRootElement(doc);
    if (root == NULL || !is_elem(root, "CORSConfiguration") ||
        !only_elements(root))
        bad = 1;
    for (rn = root ? root->children : NULL; rn && !bad; rn = rn->next) {
        struct gw_xml_cors_rule *nr;
        if (rn->type != XML_ELEMENT_NODE) continue;
        if (!is_elem(rn, "CORSRule")) {
            bad = 1;
            break;
        }
        nr = realloc(out->rules, (out->n + 1) * sizeof(*nr));
        if (nr == NULL) {
            bad = 1;
            break;
        }
        out->rules = nr;
        memset(&nr[out->n], 0, sizeof(nr[0]));
        out->n++;
        if (cors_rule(rn, &nr[out->n - 1]) != 0) bad = 1;
    }
    if (out->n == 0) bad = 1;
    xmlFreeDoc(doc);
    if (bad) {
        gw_xml_cors_cleanup(out);
        return GW_XML_MALFORMED;
    }
    return GW_XML_OK;
}

/* <PublicAccessBlockConfiguration> with optional BlockPublicAcls,
 * IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets (true|false,
 * each at most once; absent means false, as AWS). */
enum gw_xml_status gw_xml_parse_pab(const char *body, size_t len,
                                    int flags[4])
{
    static const char *const names[4] = { "BlockPublicAcls",
                                          "IgnorePublicAcls",
                                          "BlockPublicPolicy",
                                          "RestrictPublicBuckets" };
    xmlDocPtr doc = parse(body, len);
    xmlNodePtr root, c;
    int seen[4] = { 0, 0, 0, 0 }, bad = 0, i;

    for (i = 0; i < 4; i++) flags[i] = 0;
    if (doc == NULL) return GW_XML_MALFORMED;
    root = xmlDocGetRootElement(doc);
    if (root == NULL || !is_elem(root, "PublicAccessBlockConfiguration") ||
        !only_elements(root))
        bad = 1;
    for (c = root && !bad ? root->children : NULL; c && !bad; c = c->next) {
        char tmp[8];
        int k = -1;
        if (c->type != XML_ELEMENT_NODE) continue;
        for (i = 0; i < 4; i++)
            if (is_elem(c, names[i])) k = i;
        if (k < 0 || seen[k]++ || text_into(c, tmp, sizeof(tmp)) != 0) {
            bad = 1;
            break;
        }
        if (strcmp(tmp, "true") == 0) flags[k] = 1;
        else if (strcmp(tmp, "false") != 0) bad = 1;
    }
    xmlFreeDoc(doc);
    return bad ? GW_XML_MALFORMED : GW_XML_OK;
}

/* ---- lifecycle ---- */

void gw_xml_lifecycle_cleanup(struct gw_xml_lifecycle *l)
{
    size_t i, j;
    for (i = 0; i < l->n; i++) {
        struct ol_lc_rule *r = &l->rules[i];
        free(r->id);
        free(r->prefix);
        for (j = 0; j < r->ntags; j++) {
            free(r->tags[j].key);
            free(r->tags[j].value);
        }
    }
    free(l->rules);
    l->rules = NULL;
    l->n = 0;
}

/* A positive day count, or -1 when present but not positive (refused by
 * ol_lc_check as out of range); *bad when not a number. */
static int64_t lc_days(xmlNodePtr n, int *bad)
{
    long v = number_of(n, bad);
    return v > 0 ? (int64_t)v : -1;
}

static int lc_prefix(xmlNodePtr n, struct ol_lc_rule *r)
{
    int bad = 0;
    size_t len;
    if (r->prefix) return -1;
    r->prefix = text_of(n, &len, &bad);
    r->prefix_len = len;
    return bad || r->prefix == NULL ? -1 : 0;
}

static int lc_tag(xmlNodePtr n, struct ol_lc_rule *r)
{
    xmlNodePtr c;
    char *k = NULL, *v = NULL;
    size_t len;
    int bad = !only_elements(n);

    for (c = n->children; c && !bad; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        if (is_elem(c, "Key") && k == NULL) k = text_of(c, &len, &bad);
        else if (is_elem(c, "Value") && v == NULL) v = text_of(c, &len, &bad);
        else bad = 1;
    }
    if (bad || k == NULL || k[0] == '\0' || r->ntags == OL_LC_TAGS_MAX) {
        free(k);
        free(v);
        return -1;
    }
    if (v == NULL) v = calloc(1, 1);
    if (v == NULL) {
        free(k);
        return -1;
    }
    r->tags[r->ntags].key = k;
    r->tags[r->ntags].value = v;
    r->ntags++;
    return 0;
}

static int lc_size(xmlNodePtr n, int64_t *out)
{
    int bad = 0;
    long v;
    if (*out != -1) return -1;
    v = number_of(n, &bad);
    if (bad) return -1;
    *out = v < 0 ? -2 : (int64_t)v;   /* -2: out of range (check refuses) */
    return 0;
}

/* One filter condition; and: inside <And> (several allowed). */
static int lc_condition(xmlNodePtr c, struct ol_lc_rule *r, int and)
{
    if (is_elem(c, "Prefix")) return lc_prefix(c, r);
    if (is_elem(c, "Tag")) return lc_tag(c, r);
    if (is_elem(c, "ObjectSizeGreaterThan")) return lc_size(c, &r->size_gt);
    if (is_elem(c, "ObjectSizeLessThan")) return lc_size(c, &r->size_lt);
    (void)and;
    return -1;
}

static int lc_filter(xmlNodePtr f, struct ol_lc_rule *r)
{
    xmlNodePtr c, a;
    int n = 0;

    if (!only_elements(f)) return -1;
    for (c = f->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        if (++n > 1) return -1;        /* two conditions need <And> */
        if (is_elem(c, "And")) {
            if (!only_elements(c)) return -1;
            for (a = c->children; a; a = a->next) {
                if (a->type != XML_ELEMENT_NODE) continue;
                if (lc_condition(a, r, 1) != 0) return -1;
            }
        } else if (lc_condition(c, r, 0) != 0) {
            return -1;
        }
    }
    return 0;
}

static int lc_expiration(xmlNodePtr e, struct ol_lc_rule *r)
{
    xmlNodePtr c;
    int bad = !only_elements(e), days = 0, date = 0, marker = 0;

    for (c = e->children; c && !bad; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        if (is_elem(c, "Days") && !days++) {
            r->exp_days = lc_days(c, &bad);
        } else if (is_elem(c, "Date") && !date++) {
            char v[64];
            int64_t ms;
            if (text_into(c, v, sizeof(v)) != 0) {
                bad = 1;
            } else {
                struct cf_str t = { v, strlen(v) };
                r->exp_date_ms = cf_parse_iso8601_ms(t, &ms) == 0 && ms > 0
                                     ? ms : -1;
            }
        } else if (is_elem(c, "ExpiredObjectDeleteMarker") && !marker++) {
            char v[8];
            if (text_into(c, v, sizeof(v)) != 0) bad = 1;
            else if (strcmp(v, "true") == 0) r->exp_marker = 1;
            else if (strcmp(v, "false") != 0) bad = 1;
        } else {
            bad = 1;
        }
    }
    /* an empty Expiration is no action at all: malformed, as AWS */
    if (!days && !date && !marker) bad = 1;
    return bad ? -1 : 0;
}

static int lc_one_number(xmlNodePtr e, const char *name, int64_t *out,
                         const char *opt_name, int64_t *opt_out)
{
    xmlNodePtr c;
    int bad = !only_elements(e), seen = 0, seen_opt = 0;

    for (c = e->children; c && !bad; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        if (is_elem(c, name) && !seen++) *out = lc_days(c, &bad);
        else if (opt_name && is_elem(c, opt_name) && !seen_opt++)
            *opt_out = lc_days(c, &bad);
        else bad = 1;
    }
    return bad || !seen ? -1 : 0;
}

static int lc_rule(xmlNodePtr rn, struct ol_lc_rule *r, int *transition)
{
    xmlNodePtr c;
    int bad = !only_elements(rn), status = 0, filter = 0, exp = 0, nc = 0,
        ab = 0;
    size_t len;

    r->size_gt = r->size_lt = -1;
    for (c = rn->children; c && !bad; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        if (is_elem(c, "ID") && r->id == NULL) {
            r->id = text_of(c, &len, &bad);
        } else if (is_elem(c, "Status") && !status++) {
            char v[16];
            if (text_into(c, v, sizeof(v)) != 0) bad = 1;
            else if (strcmp(v, "Enabled") == 0) r->enabled = 1;
            else if (strcmp(v, "Disabled") != 0) bad = 1;
        } else if (is_elem(c, "Filter") && !filter++) {
            if (lc_filter(c, r) != 0) bad = 1;
        } else if (is_elem(c, "Prefix") && !filter++) {
            if (lc_prefix(c, r) != 0) bad = 1;
        } else if (is_elem(c, "Expiration") && !exp++) {
            if (lc_expiration(c, r) != 0) bad = 1;
        } else if (is_elem(c, "NoncurrentVersionExpiration") && !nc++) {
            if (lc_one_number(c, "NoncurrentDays", &r->nc_days,
                              "NewerNoncurrentVersions", &r->nc_newer) != 0)
                bad = 1;
        } else if (is_elem(c, "AbortIncompleteMultipartUpload") && !ab++) {
            if (lc_one_number(c, "DaysAfterInitiation", &r->abort_days,
                              NULL, NULL) != 0)
                bad = 1;
        } else if (is_elem(c, "Transition") ||
                   is_elem(c, "NoncurrentVersionTransition")) {
            *transition = 1;
        } else {
            bad = 1;
        }
    }
    if (!status || filter != 1) bad = 1;
    return bad ? -1 : 0;
}

enum gw_xml_status gw_xml_parse_lifecycle(const char *body, size_t len,
                                          struct gw_xml_lifecycle *out)
{
    xmlDocPtr doc = parse(body, len);
    xmlNodePtr root, rn;
    int bad = 0;

    memset(out, 0, sizeof(*out));
    if (doc == NULL) return GW_XML_MALFORMED;
    root = xmlDocGetRootElement(doc);
    if (root == NULL || !is_elem(root, "LifecycleConfiguration") ||
        !only_elements(root))
        bad = 1;
    for (rn = root ? root->children : NULL; rn && !bad; rn = rn->next) {
        struct ol_lc_rule *nr;
        if (rn->type != XML_ELEMENT_NODE) continue;
        if (!is_elem(rn, "Rule") || out->n == OL_LC_RULES_MAX) {
            bad = 1;
            break;
        }
        nr = realloc(out->rules, (out->n + 1) * sizeof(*nr));
        if (nr == NULL) {
            bad = 1;
            break;
        }
        out->rules = nr;
        memset(&nr[out->n], 0, sizeof(nr[0]));
        out->n++;
        if (lc_rule(rn, &nr[out->n - 1], &out->transition) != 0) bad = 1;
    }
    if (out->n == 0) bad = 1;
    xmlFreeDoc(doc);
    if (bad) {
        gw_xml_lifecycle_cleanup(out);
        return GW_XML_MALFORMED;
    }
    return GW_XML_OK;
}
