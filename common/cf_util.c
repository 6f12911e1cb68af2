/* cf_util.c: slices, hex, base64, randomness, and calendar arithmetic.
 * Dates are computed with Howard Hinnant's days-from-civil algorithm on
 * int64_t, so formatting does not depend on time_t width or on gmtime's
 * range: retain-until dates far beyond 2106 (and up to 9999) round-trip. */
#include "cf.h"

#include <ctype.h>
#include <errno.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
#include <openssl/rand.h>

int cf_str_eq(struct cf_str a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && (n == 0 || memcmp(a.p, lit, n) == 0);
}

int cf_str_caseeq(struct cf_str a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && (n == 0 || strncasecmp(a.p, lit, n) == 0);
}

char *cf_str_dup(struct cf_str s)
{
    char *p = malloc(s.len + 1);

    if (p == NULL) return NULL;
    if (s.len) memcpy(p, s.p, s.len);
    p[s.len] = '\0';
    return p;
}

const char *cf_strerror(int err, char *buf, size_t len)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    return strerror_r(err, buf, len); /* GNU: may not use buf */
#else
    if (strerror_r(err, buf, len) != 0) snprintf(buf, len, "error %d", err);
    return buf;
#endif
}

void cf_hex_encode(const void *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = in;
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int cf_hex_decode(const char *in, size_t inlen, void *out, size_t outlen)
{
    unsigned char *o = out;
    size_t i;

    if (inlen != 2 * outlen) return -1;
    for (i = 0; i < outlen; i++) {
        int hi = hexval((unsigned char)in[2 * i]);
        int lo = hexval((unsigned char)in[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        o[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

void cf_random_bytes(void *out, size_t len)
{
    cf_check(RAND_bytes(out, (int)len) == 1);
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t cf_base64_encode(const void *in, size_t len, char *out)
{
    const unsigned char *p = in;
    size_t i, o = 0;

    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

long cf_base64_decode(const char *in, size_t len, void *out, size_t outcap)
{
    unsigned char *o = out;
    size_t i, n = 0, pad = 0;

    if (len % 4 != 0) return -1;
    if (len >= 1 && in[len - 1] == '=') pad++;
    if (len >= 2 && in[len - 2] == '=') pad++;
    if (len / 4 * 3 - pad > outcap) return -1;
    for (i = 0; i < len; i += 4) {
        int v[4], k;
        for (k = 0; k < 4; k++) {
            int c = (unsigned char)in[i + k];
            if (c == '=' && i + 4 == len && k >= 4 - (int)pad) v[k] = 0;
            else if ((v[k] = b64val(c)) < 0) return -1;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                     (uint32_t)v[2] << 6 | (uint32_t)v[3];
        o[n++] = (unsigned char)(w >> 16);
        if (i + 4 < len || pad < 2) o[n++] = (unsigned char)(w >> 8);
        if (i + 4 < len || pad < 1) o[n++] = (unsigned char)w;
    }
    return (long)n;
}

/* ---- time ---- */

int64_t cf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cf_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cf_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void cf_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

struct civil {
    int64_t y;
    unsigned mo, d, h, mi, s, wday;
};

static void civil_from_sec(int64_t sec, struct civil *c)
{
    int64_t days = floordiv(sec, 86400);
    int64_t rem = sec - days * 86400;
    cf_civil_from_days(days, &c->y, &c->mo, &c->d);
    c->h = (unsigned)(rem / 3600);
    c->mi = (unsigned)(rem % 3600 / 60);
    c->s = (unsigned)(rem % 60);
    c->wday = (unsigned)((days % 7 + 11) % 7); /* 1970-01-01 was Thursday */
}

void cf_fmt_iso8601_ms(int64_t ms, char out[CF_ISO8601_LEN])
{
    struct civil c;
    int64_t sec = floordiv(ms, 1000);
    civil_from_sec(sec, &c);
    snprintf(out, CF_ISO8601_LEN, "%04lld-%02u-%02uT%02u:%02u:%02u.%03dZ",
             (long long)c.y, c.mo, c.d, c.h, c.mi, c.s,
             (int)(ms - sec * 1000));
}

static const char *const wdays[] = { "Sun", "Mon", "Tue", "Wed",
                                     "Thu", "Fri", "Sat" };
static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
                                      "May", "Jun", "Jul", "Aug",
                                      "Sep", "Oct", "Nov", "Dec" };

void cf_fmt_http_date(int64_t sec, char out[CF_ISO8601_LEN])
{
    struct civil c;
    civil_from_sec(sec, &c);
    snprintf(out, CF_ISO8601_LEN, "%s, %02u %s %04lld %02u:%02u:%02u GMT",
             wdays[c.wday], c.d, months[c.mo - 1], (long long)c.y, c.h, c.mi,
             c.s);
}

void cf_fmt_amz_date(int64_t sec, char out[CF_ISO8601_LEN])
{
    struct civil c;
    civil_from_sec(sec, &c);
    snprintf(out, CF_ISO8601_LEN, "%04lld%02u%02uT%02u%02u%02uZ",
             (long long)c.y, c.mo, c.d, c.h, c.mi, c.s);
}

/* Reads exactly n decimal digits at *i. */
static int digits(struct cf_str s, size_t *i, int n, int64_t *v)
{
    int64_t r = 0;
    int k;

    if (*i + (size_t)n > s.len) return -1;
    for (k = 0; k < n; k++) {
        char c = s.p[*i + (size_t)k];
        if (c < '0' || c > '9') return -1;
        r = r * 10 + (c - '0');
    }
    *i += (size_t)n;
    *v = r;
    return 0;
}

static int lit(struct cf_str s, size_t *i, const char *l)
{
    size_t n = strlen(l);
    if (*i + n > s.len || memcmp(s.p + *i, l, n) != 0) return -1;
    *i += n;
    return 0;
}

static int valid_civil(int64_t y, int64_t mo, int64_t d, int64_t h,
                       int64_t mi, int64_t sec)
{
    static const int mdays[] = { 31, 29, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31 };
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1]) return 0;
    if (mo == 2 && d == 29 &&
        !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 0;
    return h <= 23 && mi <= 59 && sec <= 60;
}

static int64_t to_sec(int64_t y, int64_t mo, int64_t d, int64_t h, int64_t mi,
                      int64_t s)
{
    return cf_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
           h * 3600 + mi * 60 + s;
}

int cf_parse_amz_date(struct cf_str s, int64_t *sec)
{
    size_t i = 0;
    int64_t y, mo, d, h, mi, se;

    if (digits(s, &i, 4, &y) || digits(s, &i, 2, &mo) ||
        digits(s, &i, 2, &d) || lit(s, &i, "T") || digits(s, &i, 2, &h) ||
        digits(s, &i, 2, &mi) || digits(s, &i, 2, &se) || lit(s, &i, "Z") ||
        i != s.len || !valid_civil(y, mo, d, h, mi, se))
        return -1;
    *sec = to_sec(y, mo, d, h, mi, se);
    return 0;
}

int cf_parse_iso8601_ms(struct cf_str s, int64_t *ms)
{
    size_t i = 0;
    int64_t y, mo, d, h, mi, se, frac = 0;

    if (digits(s, &i, 4, &y) || lit(s, &i, "-") || digits(s, &i, 2, &mo) ||
        lit(s, &i, "-") || digits(s, &i, 2, &d) || lit(s, &i, "T") ||
        digits(s, &i, 2, &h) || lit(s, &i, ":") || digits(s, &i, 2, &mi) ||
        lit(s, &i, ":") || digits(s, &i, 2, &se))
        return -1;
    if (i < s.len && s.p[i] == '.') {
        int n = 0;
        i++;
        while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9') {
            if (n < 3) frac = frac * 10 + (s.p[i] - '0');
            n++;
            i++;
        }
        if (n == 0) return -1;
        for (; n < 3; n++) frac *= 10;
    }
    if (lit(s, &i, "Z") != 0 && lit(s, &i, "+00:00") != 0) return -1;
    if (i != s.len || !valid_civil(y, mo, d, h, mi, se)) return -1;
    *ms = to_sec(y, mo, d, h, mi, se) * 1000 + frac;
    return 0;
}

static int month_index(struct cf_str s, size_t *i, int64_t *mo)
{
    int k;
    if (*i + 3 > s.len) return -1;
    for (k = 0; k < 12; k++)
        if (memcmp(s.p + *i, months[k], 3) == 0) {
            *mo = k + 1;
            *i += 3;
            return 0;
        }
    return -1;
}

int cf_parse_http_date(struct cf_str s, int64_t *sec)
{
    size_t i = 0;
    int64_t y, mo, d, h, mi, se;

    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    if (s.len == 29) {
        i = 3;
        if (lit(s, &i, ", ") || digits(s, &i, 2, &d) || lit(s, &i, " ") ||
            month_index(s, &i, &mo) || lit(s, &i, " ") ||
            digits(s, &i, 4, &y) || lit(s, &i, " ") || digits(s, &i, 2, &h) ||
            lit(s, &i, ":") || digits(s, &i, 2, &mi) || lit(s, &i, ":") ||
            digits(s, &i, 2, &se) || lit(s, &i, " GMT") || i != s.len)
            return -1;
    } else if (s.len == 24) {
        /* asctime: "Sun Nov  6 08:49:37 1994" */
        i = 4;
        if (month_index(s, &i, &mo) || lit(s, &i, " ")) return -1;
        if (i < s.len && s.p[i] == ' ') {
            i++;
            if (digits(s, &i, 1, &d)) return -1;
        } else if (digits(s, &i, 2, &d))
            return -1;
        if (lit(s, &i, " ") || digits(s, &i, 2, &h) || lit(s, &i, ":") ||
            digits(s, &i, 2, &mi) || lit(s, &i, ":") ||
            digits(s, &i, 2, &se) || lit(s, &i, " ") ||
            digits(s, &i, 4, &y) || i != s.len)
            return -1;
    } else {
        /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
        const char *comma = memchr(s.p, ',', s.len);
        if (comma == NULL) return -1;
        i = (size_t)(comma - s.p);
        if (lit(s, &i, ", ") || digits(s, &i, 2, &d) || lit(s, &i, "-") ||
            month_index(s, &i, &mo) || lit(s, &i, "-") ||
            digits(s, &i, 2, &y) || lit(s, &i, " ") || digits(s, &i, 2, &h) ||
            lit(s, &i, ":") || digits(s, &i, 2, &mi) || lit(s, &i, ":") ||
            digits(s, &i, 2, &se) || lit(s, &i, " GMT") || i != s.len)
            return -1;
        y += y < 70 ? 2000 : 1900;
    }
    if (!valid_civil(y, mo, d, h, mi, se)) return -1;
    *sec = to_sec(y, mo, d, h, mi, se);
    return 0;
}

int cf_mkdir_p(const char *path)
{
    char buf[4096];
    size_t i, n = strlen(path);
    if (n >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++)
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
            buf[i] = c;
        }
    return 0;
}
