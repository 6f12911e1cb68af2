/* ol_report.c: the compliance report — every locked version (retention in
 * force or expired, and/or a legal hold) with its lock state and content
 * hashes, optionally re-read through the erasure layer and re-hashed, the
 * audit chain's verification, and counts per bucket and mode; written as
 * JSON, CSV or one self-contained HTML page.
 *
 * Invariants:
 *   - Nothing here writes to the catalog or the disks: the report runs
 *     beside a live server on a read-only catalog (RocksDB secondary) and
 *     an erasure set opened shared (tmp/ untouched).
 *   - Lock state is judged at r->clock_ms, the compliance clock the caller
 *     read from the catalog, never at the system clock; this file reads no
 *     clock (only ol_clock.c does).
 *   - Key bytes reach the output only through ol_html_escape,
 *     ol_csv_field or jansson (which refuses invalid UTF-8, then the key is
 *     given only in hex): a key can never inject markup, a CSV column or a
 *     spreadsheet formula. */
#include "ol.h"
#include "cf.h"
#include "ec.h"
#include "meta.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

int ol_report_format_parse(const char *s, enum ol_report_format *out)
{
    if (strcmp(s, "json") == 0)
        *out = OL_REPORT_JSON;
    else if (strcmp(s, "csv") == 0)
        *out = OL_REPORT_CSV;
    else if (strcmp(s, "html") == 0)
        *out = OL_REPORT_HTML;
    else
        return -1;
    return 0;
}

const char *ol_check_str(enum ol_check c)
{
    switch (c) {
    case OL_CHECK_NONE:
        return "not-checked";
    case OL_CHECK_OK:
        return "ok";
    case OL_CHECK_DEGRADED:
        return "degraded";
    case OL_CHECK_MISSING:
        return "missing-data";
    case OL_CHECK_MISMATCH:
        return "hash-mismatch";
    case OL_CHECK_ERROR:
        return "error";
    }
    return "error";
}

int ol_check_is_violation(enum ol_check c)
{
    return c == OL_CHECK_MISSING || c == OL_CHECK_MISMATCH ||
           c == OL_CHECK_ERROR;
}

/* ---- rows ---- */

void ol_report_init(struct ol_report *r)
{
    memset(r, 0, sizeof(*r));
}

void ol_report_cleanup(struct ol_report *r)
{
    size_t i;
    for (i = 0; i < r->nrows; i++)
        free(r->rows[i].key);
    free(r->rows);
    free(r->sums);
    memset(r, 0, sizeof(*r));
}

enum ol_status ol_report_add(struct ol_report *r,
                             const struct ol_report_row *row)
{
    struct ol_report_row *d;

    if (r->nrows == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 64;
        struct ol_report_row *n = realloc(r->rows, nc * sizeof(*n));
        if (n == NULL) return OL_ENOMEM;
        r->rows = n;
        r->cap = nc;
    }
    d = &r->rows[r->nrows];
    *d = *row;
    d->key = malloc(row->key_len + 1);
    if (d->key == NULL) return OL_ENOMEM;
    memcpy(d->key, row->key, row->key_len);
    d->key[row->key_len] = '\0';
    r->nrows++;
    return OL_OK;
}

/* ---- summary ---- */

static int sum_cmp(const void *a, const void *b)
{
    const struct ol_report_sum *x = a, *y = b;
    int c = strcmp(x->bucket, y->bucket);
    if (c) return c;
    return (int)y->mode - (int)x->mode; /* COMPLIANCE, GOVERNANCE, hold */
}

static void sum_row(struct ol_report_sum *s, const struct ol_report_row *w)
{
    s->versions++;
    s->bytes += w->size;
    if (w->mode != OL_MODE_NONE) {
        if (w->expired)
            s->expired++;
        else
            s->active++;
    }
    if (w->legal_hold) s->legal_holds++;
    switch (w->check) {
    case OL_CHECK_OK:
        s->ok++;
        break;
    case OL_CHECK_DEGRADED:
        s->degraded++;
        break;
    case OL_CHECK_MISSING:
        s->missing++;
        break;
    case OL_CHECK_MISMATCH:
        s->mismatch++;
        break;
    case OL_CHECK_ERROR:
        s->errors++;
        break;
    case OL_CHECK_NONE:
        break;
    }
}

enum ol_status ol_report_summarize(struct ol_report *r)
{
    size_t i, j;

    free(r->sums);
    r->sums = NULL;
    r->nsums = 0;
    memset(&r->total, 0, sizeof(r->total));
    r->violations = 0;
    if (r->nrows) {
        r->sums = calloc(r->nrows, sizeof(*r->sums)); /* at most one each */
        if (r->sums == NULL) return OL_ENOMEM;
    }
    for (i = 0; i < r->nrows; i++) {
        const struct ol_report_row *w = &r->rows[i];
        for (j = 0; j < r->nsums; j++)
            if (r->sums[j].mode == w->mode &&
                strcmp(r->sums[j].bucket, w->bucket) == 0)
                break;
        if (j == r->nsums) {
            memcpy(r->sums[j].bucket, w->bucket, sizeof(w->bucket));
            r->sums[j].mode = w->mode;
            r->nsums++;
        }
        sum_row(&r->sums[j], w);
        sum_row(&r->total, w);
        if (ol_check_is_violation(w->check)) r->violations++;
    }
    if (r->nsums > 1) qsort(r->sums, r->nsums, sizeof(*r->sums), sum_cmp);
    if (r->chain_checked && r->chain.why) r->violations++;
    return OL_OK;
}

/* ---- collecting from the catalog and the disks ---- */

struct names {
    char (*v)[64];
    size_t n, cap;
    int oom;
};

static int add_name(const struct meta_bucket *b, void *arg)
{
    struct names *ns = arg;
    if (ns->n == ns->cap) {
        size_t nc = ns->cap ? ns->cap * 2 : 16;
        char(*v)[64] = realloc(ns->v, nc * sizeof(*v));
        if (v == NULL) {
            ns->oom = 1;
            return 1;
        }
        ns->v = v;
        ns->cap = nc;
    }
    snprintf(ns->v[ns->n++], 64, "%s", b->name);
    return 0;
}

static int is_md5_hex(const char *s)
{
    size_t i;
    for (i = 0; i < 32; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[32] == '\0';
}

static void check_fail(struct ol_report_row *w, enum ec_status st, size_t part,
                       size_t nparts)
{
    char where[32] = "";
    if (nparts) snprintf(where, sizeof(where), "part %zu: ", part + 1);
    w->check = st == EC_ENOTFOUND || st == EC_ETOOFEW || st == EC_ECORRUPT
                   ? OL_CHECK_MISSING
                   : OL_CHECK_ERROR;
    snprintf(w->detail, sizeof(w->detail), "%s%s", where,
             st == EC_ENOTFOUND ? "no shard of the data exists"
             : st == EC_ETOOFEW ? "too few good shards to rebuild the data"
                                : ec_strerror(st));
}

/* Re-reads v's data (every part) through ec_reader, which verifies each
 * block's bitrot hash and rebuilds missing or corrupt blocks from parity,
 * and compares the content's SHA-256 and MD5 with what was recorded. */
static void verify_version(struct ec_set *set, const struct meta_version *v,
                           struct ol_report_row *w, char *buf, size_t bs)
{
    EVP_MD_CTX *sha = EVP_MD_CTX_new(), *md5 = EVP_MD_CTX_new();
    size_t np = v->nparts ? v->nparts : 1, i;
    int degraded = 0,
        nshards = ec_set_data_shards(set) + ec_set_parity_shards(set);
    unsigned char dig[32];
    unsigned int dl;
    char hex[65];

    if (sha == NULL || md5 == NULL ||
        !EVP_DigestInit_ex(sha, EVP_sha256(), NULL)) {
        w->check = OL_CHECK_ERROR;
        snprintf(w->detail, sizeof(w->detail), "out of memory");
        goto out;
    }
    for (i = 0; i < np; i++) {
        const char *id = v->nparts ? v->parts[i].data_id : v->data_id;
        /* encrypted versions: the stored (ciphertext) bytes, whose every
         * block's bitrot hash is checked; the content hashes cannot be
         * recomputed without the keys, which objlock never holds */
        uint64_t size = meta_data_size(v->nparts ? v->parts[i].size
                                                 : v->size,
                                       v->stripe_size, v->sse.alg),
                 off;
        const char *want = v->nparts ? v->parts[i].etag : v->etag;
        struct ec_reader *rd = NULL;
        enum ec_status st;

        if (!EVP_DigestInit_ex(md5, EVP_md5(), NULL)) {
            check_fail(w, EC_ENOMEM, i, v->nparts);
            goto out;
        }
        st = ec_reader_open(set, id, size, &rd);
        for (off = 0; st == EC_OK && off < size; off += bs) {
            size_t n = size - off < bs ? (size_t)(size - off) : bs;
            int deg = 0;
            st = ec_reader_read(rd, off, buf, n, &deg);
            if (st != EC_OK) break;
            if (deg) degraded = 1;
            EVP_DigestUpdate(sha, buf, n);
            EVP_DigestUpdate(md5, buf, n);
        }
        if (st == EC_OK && ec_reader_shards_usable(rd) < nshards) degraded = 1;
        ec_reader_free(rd);
        if (st != EC_OK) {
            check_fail(w, st, i, v->nparts);
            goto out;
        }
        EVP_DigestFinal_ex(md5, dig, &dl);
        cf_hex_encode(dig, 16, hex);
        if (v->sse.alg != META_SSE_NONE) continue;
        if (is_md5_hex(want) && strcmp(hex, want) != 0) {
            w->check = OL_CHECK_MISMATCH;
            if (v->nparts)
                snprintf(w->detail, sizeof(w->detail),
                         "part %zu: MD5 %s "
                         "differs from the part's ETag",
                         i + 1, hex);
            else
                snprintf(w->detail, sizeof(w->detail),
                         "MD5 %s differs "
                         "from the ETag",
                         hex);
            goto out;
        }
    }
    if (v->sse.alg != META_SSE_NONE) {
        w->check = degraded ? OL_CHECK_DEGRADED : OL_CHECK_OK;
        snprintf(w->detail, sizeof(w->detail),
                 "encrypted: every stored block verified%s; content "
                 "hashes not recomputed",
                 degraded ? " (some shards missing or corrupt: needs heal)"
                          : "");
        goto out;
    }
    EVP_DigestFinal_ex(sha, dig, &dl);
    cf_hex_encode(dig, 32, w->computed_sha256);
    if (w->sha256[0] && strcmp(w->sha256, w->computed_sha256) != 0) {
        w->check = OL_CHECK_MISMATCH;
        snprintf(w->detail, sizeof(w->detail),
                 "SHA-256 of the data differs "
                 "from the one recorded at write time");
        goto out;
    }
    w->check = degraded ? OL_CHECK_DEGRADED : OL_CHECK_OK;
    if (degraded)
        snprintf(w->detail, sizeof(w->detail),
                 "content intact; some shards "
                 "missing or corrupt (read through parity): needs heal");
out:
    EVP_MD_CTX_free(sha);
    EVP_MD_CTX_free(md5);
}

static enum ol_status map_meta(enum meta_status st)
{
    return st == META_ENOMEM ? OL_ENOMEM : OL_EIO;
}

/* Adds the locked versions of one bucket. */
static enum ol_status collect_bucket(struct ol_report *r, struct meta_db *db,
                                     struct ec_set *set, const char *bucket,
                                     char *buf, size_t bs)
{
    struct meta_list_params p;
    struct meta_versions_result res;
    char *km = NULL, vm[META_VERSION_ID_MAX + 1] = "";
    size_t kml = 0, i;
    enum ol_status ost = OL_OK;
    enum meta_status st;

    for (;;) {
        memset(&p, 0, sizeof(p));
        memset(&res, 0, sizeof(res));
        p.prefix = "";
        p.delimiter = "";
        p.start_after = km ? km : "";
        p.start_after_len = kml;
        p.max_keys = 1000;
        st = meta_list_versions(db, bucket, &p, vm[0] ? vm : NULL, &res);
        if (st == META_ENOTFOUND) break; /* bucket deleted meanwhile */
        if (st != META_OK) {
            ost = map_meta(st);
            break;
        }
        for (i = 0; i < res.n && ost == OL_OK; i++) {
            const struct meta_version_entry *e = &res.entries[i];
            struct meta_version v;
            struct ol_report_row w;
            if (e->is_prefix || e->delete_marker) continue;
            st = meta_object_get(db, bucket, e->key, e->key_len, e->version_id,
                                 &v);
            if (st == META_ENOTFOUND) continue; /* removed meanwhile */
            if (st != META_OK) {
                ost = map_meta(st);
                break;
            }
            if (v.delete_marker ||
                (v.lock_mode == OL_MODE_NONE && !v.legal_hold)) {
                meta_version_cleanup(&v);
                continue;
            }
            memset(&w, 0, sizeof(w));
            snprintf(w.bucket, sizeof(w.bucket), "%s", bucket);
            w.key = v.key;
            w.key_len = v.key_len;
            snprintf(w.version_id, sizeof(w.version_id), "%s", v.version_id);
            w.size = v.size;
            memcpy(w.etag, v.etag, sizeof(w.etag));
            w.nparts = v.nparts;
            memcpy(w.sha256, v.sha256, sizeof(w.sha256));
            w.mode = (enum ol_mode)v.lock_mode;
            w.retain_until_ms = v.retain_until_ms;
            w.legal_hold = v.legal_hold;
            w.written_ms = v.mtime_ms;
            w.expired =
                w.mode != OL_MODE_NONE && r->clock_ms >= w.retain_until_ms;
            if (set) verify_version(set, &v, &w, buf, bs);
            ost = ol_report_add(r, &w);
            meta_version_cleanup(&v);
        }
        if (ost != OL_OK || !res.truncated) {
            meta_versions_result_cleanup(&res);
            break;
        }
        free(km);
        km = malloc(res.next_key_len + 1);
        if (km == NULL) {
            meta_versions_result_cleanup(&res);
            ost = OL_ENOMEM;
            break;
        }
        memcpy(km, res.next_key, res.next_key_len);
        km[res.next_key_len] = '\0';
        kml = res.next_key_len;
        memcpy(vm, res.next_version_id, sizeof(vm));
        meta_versions_result_cleanup(&res);
    }
    free(km);
    return ost;
}

enum ol_status ol_report_collect(struct ol_report *r, struct meta_db *db,
                                 struct ec_set *set, const char *bucket)
{
    struct names ns = {0};
    enum ol_status ost = OL_OK;
    enum meta_status st;
    size_t i, bs = set ? ec_set_stripe_size(set) : 0;
    char *buf = NULL;

    if (bucket) snprintf(r->bucket, sizeof(r->bucket), "%s", bucket);
    r->verified = set != NULL;
    if (set) {
        buf = malloc(bs);
        if (buf == NULL) return OL_ENOMEM;
    }
    st = meta_bucket_foreach(db, add_name, &ns);
    if (ns.oom)
        ost = OL_ENOMEM;
    else if (st != META_OK)
        ost = map_meta(st);
    for (i = 0; i < ns.n && ost == OL_OK; i++) {
        if (bucket && strcmp(bucket, ns.v[i]) != 0) continue;
        ost = collect_bucket(r, db, set, ns.v[i], buf, bs);
    }
    free(ns.v);
    free(buf);
    if (ost == OL_OK) {
        ost = ol_chain_verify(db, &r->chain);
        r->chain_checked = ost == OL_OK;
    }
    if (ost == OL_OK) ost = ol_report_summarize(r);
    return ost;
}

/* ---- escaping ---- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is invalid
 * (bad lead or continuation byte, overlong, surrogate, beyond U+10FFFF,
 * truncated). *printable is 0 for a control character (C0, DEL, C1),
 * which is shown as one U+FFFD like an invalid byte. */
static size_t utf8_seq(const unsigned char *s, size_t n, int *printable)
{
    unsigned c = s[0], cp;
    size_t len, i;

    *printable = 1;
    if (c < 0x80) {
        *printable = c >= 0x20 && c != 0x7f;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (n < len) return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    if (cp >= 0x80 && cp <= 0x9f) *printable = 0;
    return len;
}

/* 1 if the n bytes are printable UTF-8 (shown exactly as they are). */
static int utf8_exact(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, l;
    int pr;
    while (i < n) {
        l = utf8_seq(p + i, n - i, &pr);
        if (l == 0 || !pr) return 0;
        i += l;
    }
    return 1;
}

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

void ol_html_escape(FILE *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        int pr;
        size_t l = utf8_seq(p + i, n - i, &pr);
        if (l == 0 || !pr) {
            fputs(replacement, out);
            i += l ? l : 1;
            continue;
        }
        if (l == 1) {
            switch (p[i]) {
            case '&':
                fputs("&amp;", out);
                break;
            case '<':
                fputs("&lt;", out);
                break;
            case '>':
                fputs("&gt;", out);
                break;
            case '"':
                fputs("&quot;", out);
                break;
            case '\'':
                fputs("&#39;", out);
                break;
            default:
                fputc(p[i], out);
            }
        } else {
            fwrite(p + i, 1, l, out);
        }
        i += l;
    }
}

void ol_csv_field(FILE *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    fputc('"', out);
    /* OWASP "CSV injection": a cell starting with one of these is run as
     * a formula by spreadsheets; a leading ' makes it text. (A leading
     * control character is already replaced below.) */
    if (n > 0 && (p[0] == '=' || p[0] == '+' || p[0] == '-' || p[0] == '@'))
        fputc('\'', out);
    while (i < n) {
        int pr;
        size_t l = utf8_seq(p + i, n - i, &pr);
        if (l == 0 || !pr) {
            fputs(replacement, out);
            i += l ? l : 1;
            continue;
        }
        if (l == 1 && p[i] == '"') fputc('"', out);
        fwrite(p + i, 1, l, out);
        i += l;
    }
    fputc('"', out);
}

/* ---- writers ---- */

static void iso(int64_t ms, char out[CF_ISO8601_LEN])
{
    cf_fmt_iso8601_ms(ms, out);
}

static const char *mode_name(enum ol_mode m)
{
    return m == OL_MODE_NONE ? "NONE" : ol_mode_str(m);
}

static const char *retention_state(const struct ol_report_row *w)
{
    if (w->mode == OL_MODE_NONE) return "none";
    return w->expired ? "expired" : "active";
}

static json_t *sum_json(const struct ol_report_sum *s, int with_key)
{
    json_t *o = json_object();
    if (o == NULL) return NULL;
    if (with_key) {
        json_object_set_new(o, "bucket", json_string(s->bucket));
        json_object_set_new(o, "mode", json_string(mode_name(s->mode)));
    }
    json_object_set_new(o, "versions", json_integer((json_int_t)s->versions));
    json_object_set_new(o, "bytes", json_integer((json_int_t)s->bytes));
    json_object_set_new(o, "active", json_integer((json_int_t)s->active));
    json_object_set_new(o, "expired", json_integer((json_int_t)s->expired));
    json_object_set_new(o, "legal_holds",
                        json_integer((json_int_t)s->legal_holds));
    json_object_set_new(o, "ok", json_integer((json_int_t)s->ok));
    json_object_set_new(o, "degraded", json_integer((json_int_t)s->degraded));
    json_object_set_new(o, "missing", json_integer((json_int_t)s->missing));
    json_object_set_new(o, "mismatch", json_integer((json_int_t)s->mismatch));
    json_object_set_new(o, "errors", json_integer((json_int_t)s->errors));
    return o;
}

static json_t *str_or_null(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

static json_t *chain_json(const struct ol_report *r)
{
    json_t *o = json_object();
    char hex[65];
    if (o == NULL) return NULL;
    cf_hex_encode(r->chain.head, 32, hex);
    json_object_set_new(o, "checked", json_boolean(r->chain_checked));
    json_object_set_new(o, "intact",
                        json_boolean(r->chain_checked && r->chain.why == NULL));
    json_object_set_new(o, "entries",
                        json_integer((json_int_t)r->chain.entries));
    json_object_set_new(o, "head",
                        r->chain.entries ? json_string(hex) : json_null());
    json_object_set_new(o, "broken_at",
                        r->chain.why
                            ? json_integer((json_int_t)r->chain.bad_seq)
                            : json_null());
    json_object_set_new(o, "reason", str_or_null(r->chain.why));
    return o;
}

static enum ol_status write_json(const struct ol_report *r, FILE *out)
{
    json_t *root = json_object(), *sums = json_array(), *rows = json_array();
    char t[CF_ISO8601_LEN];
    size_t i;
    int rc;

    if (root == NULL || sums == NULL || rows == NULL) {
        json_decref(root);
        json_decref(sums);
        json_decref(rows);
        return OL_ENOMEM;
    }
    json_object_set_new(root, "report",
                        json_string("coffer compliance "
                                    "report"));
    iso(r->generated_ms, t);
    json_object_set_new(root, "generated_at", json_string(t));
    iso(r->clock_ms, t);
    json_object_set_new(root, "compliance_clock", json_string(t));
    json_object_set_new(root, "bucket", str_or_null(r->bucket));
    json_object_set_new(root, "verify_data", json_boolean(r->verified));
    json_object_set_new(root, "chain", chain_json(r));
    for (i = 0; i < r->nsums; i++)
        json_array_append_new(sums, sum_json(&r->sums[i], 1));
    json_object_set_new(root, "summary", sums);
    json_object_set_new(root, "total", sum_json(&r->total, 0));
    json_object_set_new(root, "violations",
                        json_integer((json_int_t)r->violations));
    for (i = 0; i < r->nrows; i++) {
        const struct ol_report_row *w = &r->rows[i];
        json_t *o = json_object();
        json_t *k = json_stringn(w->key, w->key_len);
        char *hex = malloc(2 * w->key_len + 1);
        if (o == NULL || hex == NULL) {
            json_decref(o);
            json_decref(k);
            free(hex);
            json_decref(rows);
            json_decref(root);
            return OL_ENOMEM;
        }
        cf_hex_encode(w->key, w->key_len, hex);
        hex[2 * w->key_len] = '\0';
        json_object_set_new(o, "bucket", json_string(w->bucket));
        json_object_set_new(o, "key", k ? k : json_null());
        json_object_set_new(o, "key_hex", json_string(hex));
        free(hex);
        json_object_set_new(o, "version_id", json_string(w->version_id));
        json_object_set_new(o, "size", json_integer((json_int_t)w->size));
        json_object_set_new(o, "etag", json_string(w->etag));
        json_object_set_new(o, "parts", json_integer((json_int_t)w->nparts));
        json_object_set_new(o, "sha256", str_or_null(w->sha256));
        json_object_set_new(o, "mode",
                            w->mode == OL_MODE_NONE
                                ? json_null()
                                : json_string(ol_mode_str(w->mode)));
        if (w->mode != OL_MODE_NONE) {
            iso(w->retain_until_ms, t);
            json_object_set_new(o, "retain_until", json_string(t));
        } else {
            json_object_set_new(o, "retain_until", json_null());
        }
        json_object_set_new(o, "retention", json_string(retention_state(w)));
        json_object_set_new(o, "legal_hold", json_boolean(w->legal_hold));
        iso(w->written_ms, t);
        json_object_set_new(o, "written_at", json_string(t));
        json_object_set_new(o, "check",
                            r->verified ? json_string(ol_check_str(w->check))
                                        : json_null());
        json_object_set_new(o, "computed_sha256",
                            str_or_null(w->computed_sha256));
        json_object_set_new(o, "detail", str_or_null(w->detail));
        json_array_append_new(rows, o);
    }
    json_object_set_new(root, "versions", rows);
    rc = json_dumpf(root, out, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (rc != 0) return OL_EIO;
    fputc('\n', out);
    return OL_OK;
}

static void csv_str(FILE *out, const char *s)
{
    ol_csv_field(out, s, strlen(s));
}

static enum ol_status write_csv(const struct ol_report *r, FILE *out)
{
    char t[CF_ISO8601_LEN];
    size_t i;

    fputs("bucket,key,key_hex,version_id,size,etag,parts,sha256,mode,"
          "retain_until,retention,legal_hold,written_at,check,"
          "computed_sha256,detail\r\n",
          out);
    for (i = 0; i < r->nrows; i++) {
        const struct ol_report_row *w = &r->rows[i];
        char *hex = malloc(2 * w->key_len + 1);
        if (hex == NULL) return OL_ENOMEM;
        cf_hex_encode(w->key, w->key_len, hex);
        hex[2 * w->key_len] = '\0';
        csv_str(out, w->bucket);
        fputc(',', out);
        ol_csv_field(out, w->key, w->key_len);
        fprintf(out, ",%s,%s,%llu,", hex, w->version_id,
                (unsigned long long)w->size);
        free(hex);
        csv_str(out, w->etag);
        fprintf(out, ",%zu,%s,%s,", w->nparts, w->sha256,
                w->mode == OL_MODE_NONE ? "" : ol_mode_str(w->mode));
        if (w->mode != OL_MODE_NONE) {
            iso(w->retain_until_ms, t);
            fputs(t, out);
        }
        iso(w->written_ms, t);
        fprintf(out, ",%s,%s,%s,%s,%s,", retention_state(w),
                w->legal_hold ? "ON" : "OFF", t,
                r->verified ? ol_check_str(w->check) : "", w->computed_sha256);
        csv_str(out, w->detail);
        fputs("\r\n", out);
    }
    return OL_OK;
}

static const char html_css[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "margin:2em;color:#1a1a1a}"
    "h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;"
    "margin-top:1.6em}"
    "table{border-collapse:collapse;margin:.5em 0;font-size:.9em}"
    "th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left;"
    "vertical-align:top}"
    "th{background:#eee}td.n{text-align:right}"
    ".mono{font-family:ui-monospace,Menlo,Consolas,monospace;"
    "font-size:.85em;word-break:break-all}"
    ".hex{color:#666;display:block}"
    ".ok{background:#e6f4e6}.warn{background:#fff4d6}"
    ".bad{background:#fbdada;font-weight:bold}"
    "tr.bad td{background:#fbdada}tr.warn td{background:#fff4d6}"
    ".muted{color:#666}"
    "@media print{body{margin:0}}";

static void html_str(FILE *out, const char *s)
{
    ol_html_escape(out, s, strlen(s));
}

/* A key is shown as text; when that text is not the exact bytes (invalid
 * UTF-8 or control characters), the hex is shown below it too. */
static void html_key(FILE *out, const struct ol_report_row *w)
{
    int exact = utf8_exact(w->key, w->key_len);

    ol_html_escape(out, w->key, w->key_len);
    if (!exact) {
        char *hex = malloc(2 * w->key_len + 1);
        if (hex) {
            cf_hex_encode(w->key, w->key_len, hex);
            hex[2 * w->key_len] = '\0';
            fprintf(out, "<span class=\"hex\">hex %s</span>", hex);
            free(hex);
        }
    }
}

static void html_sum_cells(FILE *out, const struct ol_report_sum *s)
{
    fprintf(out,
            "<td class=\"n\">%llu</td><td class=\"n\">%llu</td>"
            "<td class=\"n\">%llu</td><td class=\"n\">%llu</td>"
            "<td class=\"n\">%llu</td>",
            (unsigned long long)s->versions, (unsigned long long)s->bytes,
            (unsigned long long)s->active, (unsigned long long)s->expired,
            (unsigned long long)s->legal_holds);
    fprintf(out,
            "<td class=\"n\">%llu</td><td class=\"n%s\">%llu</td>"
            "<td class=\"n%s\">%llu</td><td class=\"n%s\">%llu</td>"
            "<td class=\"n%s\">%llu</td>",
            (unsigned long long)s->ok, s->degraded ? " warn" : "",
            (unsigned long long)s->degraded, s->missing ? " bad" : "",
            (unsigned long long)s->missing, s->mismatch ? " bad" : "",
            (unsigned long long)s->mismatch, s->errors ? " bad" : "",
            (unsigned long long)s->errors);
}

static enum ol_status write_html(const struct ol_report *r, FILE *out)
{
    char t[CF_ISO8601_LEN], hex[65];
    size_t i;
    int intact = r->chain_checked && r->chain.why == NULL;

    fprintf(out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head>"
            "<meta charset=\"utf-8\">\n<title>coffer compliance report"
            "</title>\n<style>%s</style></head>\n<body>\n",
            html_css);
    fputs("<h1>coffer compliance report</h1>\n"
          "<p class=\"muted\">Object Lock (WORM) inventory of locked object "
          "versions, with the verification of the hash-chained audit "
          "log.</p>\n<table>\n",
          out);
    iso(r->generated_ms, t);
    fprintf(out, "<tr><th>Generated (system clock)</th><td>%s</td></tr>\n", t);
    iso(r->clock_ms, t);
    fprintf(out, "<tr><th>Compliance clock</th><td>%s</td></tr>\n", t);
    fputs("<tr><th>Scope</th><td>", out);
    if (r->bucket[0]) {
        fputs("bucket ", out);
        html_str(out, r->bucket);
    } else {
        fputs("all buckets", out);
    }
    fprintf(out,
            "</td></tr>\n<tr><th>Data verification</th><td>%s</td>"
            "</tr>\n",
            r->verified ? "every version re-read from its shards (bitrot "
                          "hashes verified) and re-hashed (SHA-256, MD5)"
                        : "not requested (catalog only)");
    cf_hex_encode(r->chain.head, 32, hex);
    fprintf(out, "<tr><th>Audit chain</th><td class=\"%s\">",
            intact ? "ok" : "bad");
    if (!r->chain_checked)
        fputs("NOT VERIFIED", out);
    else if (intact)
        fprintf(out,
                "intact: %llu entries, head <span class=\"mono\">%s"
                "</span>",
                (unsigned long long)r->chain.entries,
                r->chain.entries ? hex : "-");
    else
        fprintf(out, "BROKEN at entry %llu: %s",
                (unsigned long long)r->chain.bad_seq, r->chain.why);
    fprintf(out,
            "</td></tr>\n<tr><th>Violations</th><td class=\"%s\">%llu"
            "</td></tr>\n</table>\n",
            r->violations ? "bad" : "ok", (unsigned long long)r->violations);

    fputs("<h2>Summary per bucket and mode</h2>\n<table>\n<tr><th>Bucket"
          "</th><th>Mode</th><th>Versions</th><th>Bytes</th><th>Retention "
          "active</th><th>Retention expired</th><th>Legal holds</th>"
          "<th>OK</th><th>Degraded</th><th>Missing data</th><th>Hash "
          "mismatch</th><th>Errors</th></tr>\n",
          out);
    for (i = 0; i < r->nsums; i++) {
        const struct ol_report_sum *s = &r->sums[i];
        fputs("<tr><td>", out);
        html_str(out, s->bucket);
        fprintf(out, "</td><td>%s</td>",
                s->mode == OL_MODE_NONE ? "legal hold only"
                                        : ol_mode_str(s->mode));
        html_sum_cells(out, s);
        fputs("</tr>\n", out);
    }
    fputs("<tr><th colspan=\"2\">Total</th>", out);
    html_sum_cells(out, &r->total);
    fputs("</tr>\n</table>\n", out);
    if (!r->verified)
        fputs("<p class=\"muted\">Check counts are zero: the data was not "
              "re-read (run with --verify-data).</p>\n",
              out);

    fputs("<h2>Locked versions</h2>\n<table>\n<tr><th>Bucket</th><th>Key"
          "</th><th>Version</th><th>Size</th><th>SHA-256 (recorded)</th>"
          "<th>Mode</th><th>Retain until</th><th>Retention</th><th>Legal "
          "hold</th><th>Written</th><th>Check</th><th>Detail</th></tr>\n",
          out);
    for (i = 0; i < r->nrows; i++) {
        const struct ol_report_row *w = &r->rows[i];
        const char *cls = ol_check_is_violation(w->check) ? " class=\"bad\""
                          : w->check == OL_CHECK_DEGRADED ? " class=\"warn\""
                                                          : "";
        fprintf(out, "<tr%s><td>", cls);
        html_str(out, w->bucket);
        fputs("</td><td class=\"mono\">", out);
        html_key(out, w);
        fputs("</td><td class=\"mono\">", out);
        html_str(out, w->version_id); /* from the catalog: escaped too */
        fprintf(out,
                "</td><td class=\"n\">%llu"
                "</td><td class=\"mono\">",
                (unsigned long long)w->size);
        html_str(out, w->sha256[0] ? w->sha256 : "(not recorded)");
        fprintf(out, "</td><td>%s</td><td>",
                w->mode == OL_MODE_NONE ? "-" : ol_mode_str(w->mode));
        if (w->mode != OL_MODE_NONE) {
            iso(w->retain_until_ms, t);
            fputs(t, out);
        } else {
            fputs("-", out);
        }
        iso(w->written_ms, t);
        fprintf(out,
                "</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
                "<td>",
                retention_state(w), w->legal_hold ? "ON" : "OFF", t,
                r->verified ? ol_check_str(w->check) : "not checked");
        html_str(out, w->detail);
        fputs("</td></tr>\n", out);
    }
    fputs("</table>\n", out);
    if (r->nrows == 0) fputs("<p>No locked versions.</p>\n", out);
    fputs("<p class=\"muted\">Generated by coffer audit report. Retention "
          "state is judged on the compliance clock, which advances only "
          "with real elapsed time and is not moved by the system clock."
          "</p>\n</body></html>\n",
          out);
    return OL_OK;
}

enum ol_status ol_report_write(const struct ol_report *r,
                               enum ol_report_format f, FILE *out)
{
    enum ol_status st;
    switch (f) {
    case OL_REPORT_JSON:
        st = write_json(r, out);
        break;
    case OL_REPORT_CSV:
        st = write_csv(r, out);
        break;
    case OL_REPORT_HTML:
        st = write_html(r, out);
        break;
    default:
        return OL_EINVAL;
    }
    if (st == OL_OK && (fflush(out) != 0 || ferror(out))) st = OL_EIO;
    return st;
}
