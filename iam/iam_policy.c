/* iam_policy.c: bucket policies, parsed with jansson into statements and
 * evaluated as AWS evaluates them (see iam.h for what is supported).
 *
 * Sources: AWS IAM User Guide, "Policy evaluation logic" (default deny,
 * explicit deny wins), "IAM JSON policy elements: Condition operators"
 * (a missing key makes a condition false, except negated operators, which
 * are then true, ...IfExists, true, and Null), "Conditions with multiple
 * context keys or values" (operators and keys AND, values OR, values of a
 * negated operator NOR); Amazon S3 User Guide, "Bucket policy examples"
 * and "Condition keys for Amazon S3".
 *
 * Invariant: a statement that could not be understood never exists: every
 * unknown element, operator, key or value is a parse error. */
#include "iam.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S3_ARN "arn:aws:s3:::"

enum ckey { K_SECURE, K_SOURCE_IP, K_PREFIX, K_LOCK_DAYS, K_LOCK_MODE };
static const struct { const char *name; enum ckey k; } keys[] = {
    { "aws:SecureTransport", K_SECURE },
    { "aws:SourceIp", K_SOURCE_IP },
    { "s3:prefix", K_PREFIX },
    { "s3:object-lock-remaining-retention-days", K_LOCK_DAYS },
    { "s3:object-lock-mode", K_LOCK_MODE },
};

enum cop { OP_STR_EQ, OP_STR_EQ_IC, OP_STR_LIKE, OP_NUM_EQ, OP_NUM_LT,
           OP_NUM_LE, OP_NUM_GT, OP_NUM_GE, OP_BOOL, OP_IP, OP_NULL };
static const struct { const char *name; enum cop op; int negate; } ops[] = {
    { "StringEquals", OP_STR_EQ, 0 },
    { "StringNotEquals", OP_STR_EQ, 1 },
    { "StringEqualsIgnoreCase", OP_STR_EQ_IC, 0 },
    { "StringNotEqualsIgnoreCase", OP_STR_EQ_IC, 1 },
    { "StringLike", OP_STR_LIKE, 0 },
    { "StringNotLike", OP_STR_LIKE, 1 },
    { "NumericEquals", OP_NUM_EQ, 0 },
    { "NumericNotEquals", OP_NUM_EQ, 1 },
    { "NumericLessThan", OP_NUM_LT, 0 },
    { "NumericLessThanEquals", OP_NUM_LE, 0 },
    { "NumericGreaterThan", OP_NUM_GT, 0 },
    { "NumericGreaterThanEquals", OP_NUM_GE, 0 },
    { "Bool", OP_BOOL, 0 },
    { "IpAddress", OP_IP, 0 },
    { "NotIpAddress", OP_IP, 1 },
    { "Null", OP_NULL, 0 },
};

struct strs {
    char **v;                /* owned strings */
    size_t n;
};

/* One parsed CIDR block. */
struct cidr {
    int family;              /* AF_INET / AF_INET6 */
    unsigned char addr[16];
    int bits;
};

struct cond {
    enum cop op;
    int negate;              /* StringNotEquals, NotIpAddress, ... */
    int if_exists;           /* ...IfExists: true when the key is absent */
    enum ckey key;
    struct strs vals;        /* string values */
    double *nums;            /* numeric values (Numeric*), vals.n of them */
    struct cidr *cidrs;      /* IpAddress values, vals.n of them */
};

struct stmt {
    int deny;                /* Effect Deny */
    int not_principal;       /* NotPrincipal instead of Principal */
    int any_principal;       /* "*" or {"AWS": "*"} */
    struct strs principals;  /* principal names */
    int not_action;
    struct strs actions;     /* patterns */
    int not_resource;
    struct strs resources;   /* patterns, after "arn:aws:s3:::" */
    struct cond *conds;
    size_t nconds;
};

struct iam_policy {
    struct stmt *st;
    size_t n;
};

/* ---- matching ---- */

int iam_glob(const char *p, const char *s, int nocase)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p && (*p == '?' ||
                          (nocase ? tolower((unsigned char)*p) ==
                                        tolower((unsigned char)*s)
                                  : *p == *s))) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*p == '*') p++;
    return *p == '\0';
}

static int parse_cidr(const char *s, struct cidr *c)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    char *end;
    long bits;

    if (n == 0 || n >= sizeof(buf)) return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    memset(c, 0, sizeof(*c));
    if (inet_pton(AF_INET, buf, c->addr) == 1) {
        c->family = AF_INET;
        c->bits = 32;
    } else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
        c->family = AF_INET6;
        c->bits = 128;
    } else {
        return -1;
    }
    if (slash) {
        errno = 0;
        bits = strtol(slash + 1, &end, 10);
        if (errno || end == slash + 1 || *end || bits < 0 || bits > c->bits)
            return -1;
        c->bits = (int)bits;
    }
    return 0;
}

static int cidr_has(const struct cidr *c, const struct cidr *ip)
{
    int full = c->bits / 8, rest = c->bits % 8;
    if (c->family != ip->family) return 0;
    if (memcmp(c->addr, ip->addr, (size_t)full) != 0) return 0;
    if (rest) {
        unsigned char m = (unsigned char)(0xff << (8 - rest));
        if ((c->addr[full] & m) != (ip->addr[full] & m)) return 0;
    }
    return 1;
}

/* ---- parsing ---- */

struct perr {
    char *buf;
    size_t cap;
};

static enum iam_status fail(struct perr *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static enum iam_status fail(struct perr *e, const char *fmt, ...)
{
    va_list ap;
    if (e->cap) {
        va_start(ap, fmt);
        vsnprintf(e->buf, e->cap, fmt, ap);
        va_end(ap);
    }
    return IAM_EINVAL;
}

static void strs_free(struct strs *s)
{
    size_t i;
    for (i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int strs_add(struct strs *s, const char *v)
{
    char **p = realloc(s->v, (s->n + 1) * sizeof(*p));
    if (p == NULL) return -1;
    s->v = p;
    if ((s->v[s->n] = strdup(v)) == NULL) return -1;
    s->n++;
    return 0;
}

/* A value given as a JSON string, number or boolean, as a string. */
static int scalar_text(json_t *v, char *out, size_t cap)
{
    if (json_is_string(v))
        return (size_t)snprintf(out, cap, "%s", json_string_value(v)) < cap
                   ? 0 : -1;
    if (json_is_integer(v))
        return snprintf(out, cap, "%lld", (long long)json_integer_value(v)),
               0;
    if (json_is_real(v))
        return snprintf(out, cap, "%.17g", json_real_value(v)), 0;
    if (json_is_boolean(v))
        return snprintf(out, cap, "%s", json_is_true(v) ? "true" : "false"),
               0;
    return -1;
}

/* A string or a non-empty array of strings (or, with scalars, numbers and
 * booleans) into out. */
static enum iam_status str_or_array(json_t *v, int scalars, struct strs *out,
                                    const char *what, struct perr *e)
{
    char buf[2048];
    size_t i;
    json_t *x;

    if (json_is_array(v)) {
        if (json_array_size(v) == 0) return fail(e, "%s is empty", what);
        json_array_foreach(v, i, x) {
            if (!(json_is_string(x) || (scalars && !json_is_array(x) &&
                                        !json_is_object(x) && !json_is_null(x))))
                return fail(e, "%s must hold strings", what);
            if (scalar_text(x, buf, sizeof(buf)) != 0)
                return fail(e, "%s value is too long", what);
            if (strs_add(out, buf) != 0) return IAM_ENOMEM;
        }
        return IAM_OK;
    }
    if (!(json_is_string(v) || (scalars && !json_is_object(v) &&
                                !json_is_null(v))))
        return fail(e, "%s must be a string or an array of strings", what);
    if (scalar_text(v, buf, sizeof(buf)) != 0)
        return fail(e, "%s value is too long", what);
    return strs_add(out, buf) != 0 ? IAM_ENOMEM : IAM_OK;
}

static int has_variable(const char *s)
{
    return strstr(s, "${") != NULL;
}

static enum iam_status parse_principal(json_t *v, struct stmt *st,
                                       struct perr *e)
{
    const char *k;
    json_t *x;
    struct strs tmp = { 0 };
    size_t i;
    enum iam_status rc;

    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "*") != 0)
            return fail(e, "Invalid principal in policy");
        st->any_principal = 1;
        return IAM_OK;
    }
    if (!json_is_object(v) || json_object_size(v) == 0)
        return fail(e, "Invalid principal in policy");
    json_object_foreach(v, k, x) {
        if (strcmp(k, "AWS") != 0 && strcmp(k, "CanonicalUser") != 0) {
            strs_free(&tmp);
            return fail(e, "Invalid principal in policy: principal type "
                        "'%s' is not supported", k);
        }
        rc = str_or_array(x, 0, &tmp, "Principal", e);
        if (rc != IAM_OK) {
            strs_free(&tmp);
            return rc;
        }
    }
    for (i = 0; i < tmp.n; i++) {
        const char *p = tmp.v[i], *name = p;
        if (strcmp(p, "*") == 0) {
            st->any_principal = 1;
            continue;
        }
        if (strncmp(p, "arn:aws:iam::", 13) == 0) {
            const char *u = strstr(p + 13, ":user/");
            const char *colon = strchr(p + 13, ':');
            if (u == NULL || u != colon)
                goto bad;
            name = u + 6;
        }
        if (!iam_name_valid(name)) goto bad;
        if (strs_add(&st->principals, name) != 0) {
            strs_free(&tmp);
            return IAM_ENOMEM;
        }
    }
    strs_free(&tmp);
    return IAM_OK;
bad:
    rc = fail(e, "Invalid principal in policy: '%s'", tmp.v[i]);
    strs_free(&tmp);
    return rc;
}

static enum iam_status parse_actions(json_t *v, struct stmt *st,
                                     struct perr *e)
{
    size_t i;
    enum iam_status rc = str_or_array(v, 0, &st->actions, "Action", e);
    if (rc != IAM_OK) return rc;
    for (i = 0; i < st->actions.n; i++) {
        const char *a = st->actions.v[i];
        if (strcmp(a, "*") != 0 && strncasecmp(a, "s3:", 3) != 0)
            return fail(e, "Policy has invalid action: '%s'", a);
        if (a[0] != '*' && a[3] == '\0')
            return fail(e, "Policy has invalid action: '%s'", a);
    }
    return IAM_OK;
}

/* A resource must name this bucket (or objects in it): AWS refuses a
 * bucket policy whose resource lies elsewhere. */
static enum iam_status parse_resources(json_t *v, struct stmt *st,
                                       const char *bucket, struct perr *e)
{
    struct strs tmp = { 0 };
    size_t i;
    enum iam_status rc = str_or_array(v, 0, &tmp, "Resource", e);

    for (i = 0; rc == IAM_OK && i < tmp.n; i++) {
        const char *r = tmp.v[i], *rest;
        char bpart[256];
        size_t bl;
        if (strcmp(r, "*") == 0) {
            if (strs_add(&st->resources, "*") != 0) rc = IAM_ENOMEM;
            continue;
        }
        if (strncmp(r, S3_ARN, sizeof(S3_ARN) - 1) != 0 || has_variable(r)) {
            rc = fail(e, "Policy has invalid resource: '%s'", r);
            break;
        }
        rest = r + sizeof(S3_ARN) - 1;
        bl = strcspn(rest, "/");
        if (bl == 0 || bl >= sizeof(bpart)) {
            rc = fail(e, "Policy has invalid resource: '%s'", r);
            break;
        }
        memcpy(bpart, rest, bl);
        bpart[bl] = '\0';
        if (!iam_glob(bpart, bucket, 0)) {
            rc = fail(e, "Policy has invalid resource: '%s' is not in bucket "
                      "%s", r, bucket);
            break;
        }
        if (strs_add(&st->resources, rest) != 0) rc = IAM_ENOMEM;
    }
    strs_free(&tmp);
    return rc;
}

static enum iam_status parse_cond(const char *opname, const char *kname,
                                  json_t *vals, struct cond *c,
                                  struct perr *e)
{
    char op[64];
    size_t n = strlen(opname), i;
    enum iam_status rc;
    int found = 0;

    memset(c, 0, sizeof(c[0]));
    if (n >= sizeof(op))
        return fail(e, "Invalid Condition operator: '%s'", opname);
    memcpy(op, opname, n + 1);
    if (n > 8 && strcmp(op + n - 8, "IfExists") == 0) {
        c->if_exists = 1;
        op[n - 8] = '\0';
    }
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(op, ops[i].name) == 0) {
            c->op = ops[i].op;
            c->negate = ops[i].negate;
            found = 1;
        }
    if (!found || (c->op == OP_NULL && c->if_exists))
        return fail(e, "Invalid Condition operator: '%s' (coffer supports "
                    "String*, Numeric*, Bool, IpAddress, NotIpAddress, Null "
                    "and their IfExists forms)", opname);
    found = 0;
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcasecmp(kname, keys[i].name) == 0) {
            c->key = keys[i].k;
            found = 1;
        }
    if (!found)
        return fail(e, "Policy has an invalid condition key: '%s'", kname);
    rc = str_or_array(vals, 1, &c->vals, "Condition", e);
    if (rc != IAM_OK) return rc;
    /* operator and key must fit each other */
    if (c->op == OP_IP && c->key != K_SOURCE_IP)
        return fail(e, "Condition operator %s cannot apply to %s", opname,
                    kname);
    if (c->key == K_SOURCE_IP && c->op != OP_IP && c->op != OP_NULL)
        return fail(e, "aws:SourceIp takes IpAddress or NotIpAddress");
    if (c->key == K_SECURE && c->op != OP_BOOL && c->op != OP_NULL)
        return fail(e, "aws:SecureTransport takes Bool");
    if (c->op == OP_BOOL && c->key != K_SECURE)
        return fail(e, "Condition operator Bool cannot apply to %s", kname);
    if ((c->op >= OP_NUM_EQ && c->op <= OP_NUM_GE) && c->key != K_LOCK_DAYS)
        return fail(e, "Condition operator %s cannot apply to %s", opname,
                    kname);
    for (i = 0; i < c->vals.n; i++) {
        const char *v = c->vals.v[i];
        if (has_variable(v))
            return fail(e, "policy variables are not supported: '%s'", v);
        if ((c->op == OP_BOOL || c->op == OP_NULL) &&
            strcasecmp(v, "true") != 0 && strcasecmp(v, "false") != 0)
            return fail(e, "Invalid Condition value for %s: '%s'", opname, v);
    }
    if (c->op >= OP_NUM_EQ && c->op <= OP_NUM_GE) {
        c->nums = calloc(c->vals.n, sizeof(*c->nums));
        if (c->nums == NULL) return IAM_ENOMEM;
        for (i = 0; i < c->vals.n; i++) {
            char *end;
            errno = 0;
            c->nums[i] = strtod(c->vals.v[i], &end);
            if (errno || end == c->vals.v[i] || *end)
                return fail(e, "Invalid numeric Condition value: '%s'",
                            c->vals.v[i]);
        }
    }
    if (c->op == OP_IP) {
        c->cidrs = calloc(c->vals.n, sizeof(*c->cidrs));
        if (c->cidrs == NULL) return IAM_ENOMEM;
        for (i = 0; i < c->vals.n; i++)
            if (parse_cidr(c->vals.v[i], &c->cidrs[i]) != 0)
                return fail(e, "Invalid IP address in Condition: '%s'",
                            c->vals.v[i]);
    }
    return IAM_OK;
}

static void cond_cleanup(struct cond *c)
{
    strs_free(&c->vals);
    free(c->nums);
    free(c->cidrs);
}

static enum iam_status parse_conditions(json_t *v, struct stmt *st,
                                        struct perr *e)
{
    const char *opname, *kname;
    json_t *keyset, *vals;
    size_t n = 0;

    if (!json_is_object(v)) return fail(e, "Condition must be an object");
    json_object_foreach(v, opname, keyset) {
        if (strncmp(opname, "ForAnyValue:", 12) == 0 ||
            strncmp(opname, "ForAllValues:", 13) == 0)
            return fail(e, "Invalid Condition operator: '%s' (set operators "
                        "are not supported: every supported key has one "
                        "value)", opname);
        if (!json_is_object(keyset) || json_object_size(keyset) == 0)
            return fail(e, "Condition operator %s must map keys to values",
                        opname);
        n += json_object_size(keyset);
    }
    st->conds = calloc(n ? n : 1, sizeof(*st->conds));
    if (st->conds == NULL) return IAM_ENOMEM;
    json_object_foreach(v, opname, keyset) {
        json_object_foreach(keyset, kname, vals) {
            enum iam_status rc = parse_cond(opname, kname, vals,
                                            &st->conds[st->nconds], e);
            st->nconds++; /* cleaned up even when half-parsed */
            if (rc != IAM_OK) return rc;
        }
    }
    return IAM_OK;
}

static void stmt_cleanup(struct stmt *s)
{
    size_t i;
    strs_free(&s->principals);
    strs_free(&s->actions);
    strs_free(&s->resources);
    for (i = 0; i < s->nconds; i++) cond_cleanup(&s->conds[i]);
    free(s->conds);
}

static enum iam_status parse_stmt(json_t *o, const char *bucket,
                                  struct stmt *st, struct perr *e)
{
    const char *k;
    json_t *v, *eff, *pr, *npr, *ac, *nac, *rs, *nrs, *cd;
    enum iam_status rc = IAM_OK;

    if (!json_is_object(o)) return fail(e, "a Statement must be an object");
    json_object_foreach(o, k, v) {
        if (strcmp(k, "Sid") && strcmp(k, "Effect") && strcmp(k, "Principal") &&
            strcmp(k, "NotPrincipal") && strcmp(k, "Action") &&
            strcmp(k, "NotAction") && strcmp(k, "Resource") &&
            strcmp(k, "NotResource") && strcmp(k, "Condition"))
            return fail(e, "Unknown field %s", k);
    }
    v = json_object_get(o, "Sid");
    if (v && !json_is_string(v)) return fail(e, "Sid must be a string");
    eff = json_object_get(o, "Effect");
    if (!json_is_string(eff)) return fail(e, "Missing required field Effect");
    if (strcmp(json_string_value(eff), "Deny") == 0) st->deny = 1;
    else if (strcmp(json_string_value(eff), "Allow") != 0)
        return fail(e, "Invalid effect: %s", json_string_value(eff));
    pr = json_object_get(o, "Principal");
    npr = json_object_get(o, "NotPrincipal");
    if ((pr == NULL) == (npr == NULL))
        return fail(e, "Missing required field Principal");
    st->not_principal = npr != NULL;
    rc = parse_principal(pr ? pr : npr, st, e);
    if (rc != IAM_OK) return rc;
    ac = json_object_get(o, "Action");
    nac = json_object_get(o, "NotAction");
    if ((ac == NULL) == (nac == NULL))
        return fail(e, "Missing required field Action");
    st->not_action = nac != NULL;
    rc = parse_actions(ac ? ac : nac, st, e);
    if (rc != IAM_OK) return rc;
    rs = json_object_get(o, "Resource");
    nrs = json_object_get(o, "NotResource");
    if ((rs == NULL) == (nrs == NULL))
        return fail(e, "Missing required field Resource");
    st->not_resource = nrs != NULL;
    rc = parse_resources(rs ? rs : nrs, st, bucket, e);
    if (rc != IAM_OK) return rc;
    cd = json_object_get(o, "Condition");
    if (cd) rc = parse_conditions(cd, st, e);
    return rc;
}

enum iam_status iam_policy_parse(const char *json, size_t len,
                                 const char *bucket, struct iam_policy **out,
                                 char *err, size_t errcap)
{
    struct perr e = { err, errcap };
    json_error_t je;
    json_t *root = NULL, *stmts, *v;
    struct iam_policy *p = NULL;
    const char *k;
    enum iam_status rc = IAM_OK;
    size_t i, n;

    *out = NULL;
    if (errcap) err[0] = '\0';
    if (len > IAM_POLICY_MAX_BYTES)
        return fail(&e, "Policies must be no larger than %d bytes",
                    IAM_POLICY_MAX_BYTES);
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL)
        return fail(&e, "This policy contains invalid Json");
    if (!json_is_object(root)) {
        rc = fail(&e, "This policy contains invalid Json");
        goto out;
    }
    json_object_foreach(root, k, v) {
        if (strcmp(k, "Version") && strcmp(k, "Id") && strcmp(k, "Statement")) {
            rc = fail(&e, "Unknown field %s", k);
            goto out;
        }
    }
    v = json_object_get(root, "Version");
    if (v && !(json_is_string(v) &&
               (strcmp(json_string_value(v), "2012-10-17") == 0 ||
                strcmp(json_string_value(v), "2008-10-17") == 0))) {
        rc = fail(&e, "The policy must contain a valid version string");
        goto out;
    }
    v = json_object_get(root, "Id");
    if (v && !json_is_string(v)) {
        rc = fail(&e, "Id must be a string");
        goto out;
    }
    stmts = json_object_get(root, "Statement");
    if (stmts == NULL) {
        rc = fail(&e, "Missing required field Statement");
        goto out;
    }
    n = json_is_array(stmts) ? json_array_size(stmts) : 1;
    if (n == 0) {
        rc = fail(&e, "Could not parse the policy: Statement is empty!");
        goto out;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL || (p->st = calloc(n, sizeof(*p->st))) == NULL) {
        rc = IAM_ENOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) {
        json_t *s = json_is_array(stmts) ? json_array_get(stmts, i) : stmts;
        rc = parse_stmt(s, bucket, &p->st[i], &e);
        p->n++;
        if (rc != IAM_OK) goto out;
    }
out:
    json_decref(root);
    if (rc != IAM_OK) {
        if (rc == IAM_ENOMEM && errcap) snprintf(err, errcap, "out of memory");
        iam_policy_free(p);
        return rc;
    }
    *out = p;
    return IAM_OK;
}

void iam_policy_free(struct iam_policy *p)
{
    size_t i;
    if (p == NULL) return;
    for (i = 0; i < p->n; i++) stmt_cleanup(&p->st[i]);
    free(p->st);
    free(p);
}

/* ---- evaluation ---- */

static int any_glob(const struct strs *s, const char *v, int nocase)
{
    size_t i;
    for (i = 0; i < s->n; i++)
        if (iam_glob(s->v[i], v, nocase)) return 1;
    return 0;
}

/* The statement grants to everyone, whoever the caller is. */
static int grants_everyone(const struct stmt *st)
{
    return st->any_principal || st->not_principal;
}

static int principal_matches(const struct stmt *st, const char *who)
{
    size_t i;
    if (st->any_principal) return 1;
    if (who == NULL) return 0;
    for (i = 0; i < st->principals.n; i++)
        if (strcmp(st->principals.v[i], who) == 0) return 1;
    return 0;
}

/* The request's value of a key, as text; NULL when absent. */
static const char *ctx_value(const struct iam_ctx *c, enum ckey k, char *buf,
                             size_t cap)
{
    switch (k) {
    case K_SECURE: return c->secure_transport ? "true" : "false";
    case K_SOURCE_IP: return c->source_ip;
    case K_PREFIX: return c->prefix;
    case K_LOCK_MODE: return c->lock_mode;
    case K_LOCK_DAYS:
        if (c->lock_days < 0) return NULL;
        snprintf(buf, cap, "%lld", (long long)c->lock_days);
        return buf;
    }
    return NULL;
}

/* One value against the request's value (present). */
static int value_matches(const struct cond *c, size_t i, const char *have)
{
    switch (c->op) {
    case OP_STR_EQ: return strcmp(c->vals.v[i], have) == 0;
    case OP_STR_EQ_IC: return strcasecmp(c->vals.v[i], have) == 0;
    case OP_STR_LIKE: return iam_glob(c->vals.v[i], have, 0);
    case OP_BOOL: return strcasecmp(c->vals.v[i], have) == 0;
    case OP_IP: {
        struct cidr ip;
        return parse_cidr(have, &ip) == 0 && cidr_has(&c->cidrs[i], &ip);
    }
    case OP_NUM_EQ: case OP_NUM_LT: case OP_NUM_LE: case OP_NUM_GT:
    case OP_NUM_GE: {
        char *end;
        double h = strtod(have, &end), w = c->nums[i];
        if (end == have || *end) return 0;
        switch (c->op) {
        case OP_NUM_EQ: return h == w;
        case OP_NUM_LT: return h < w;
        case OP_NUM_LE: return h <= w;
        case OP_NUM_GT: return h > w;
        default: return h >= w;
        }
    }
    case OP_NULL: return 0; /* handled by the caller */
    }
    return 0;
}

static int cond_holds(const struct cond *c, const struct iam_ctx *ctx)
{
    char buf[32];
    const char *have = ctx_value(ctx, c->key, buf, sizeof(buf));
    size_t i;
    int any = 0;

    if (c->op == OP_NULL) {
        /* "true": the key must be absent; "false": present */
        for (i = 0; i < c->vals.n; i++)
            if ((strcasecmp(c->vals.v[i], "true") == 0) == (have == NULL))
                return 1;
        return 0;
    }
    if (have == NULL) return c->if_exists || c->negate;
    for (i = 0; i < c->vals.n && !any; i++) any = value_matches(c, i, have);
    return c->negate ? !any : any;
}

enum iam_effect iam_policy_eval(const struct iam_policy *p,
                                const struct iam_ctx *c)
{
    char res[1200];
    size_t i, j;
    int allowed = 0;

    if (p == NULL) return IAM_IMPLICIT_DENY;
    if (c->key) snprintf(res, sizeof(res), "%s/%s", c->bucket, c->key);
    else snprintf(res, sizeof(res), "%s", c->bucket);
    for (i = 0; i < p->n; i++) {
        const struct stmt *st = &p->st[i];
        int ok;
        ok = principal_matches(st, c->principal);
        if (st->not_principal) ok = !ok;
        if (!ok) continue;
        ok = any_glob(&st->actions, c->action, 1);
        if (st->not_action) ok = !ok;
        if (!ok) continue;
        ok = any_glob(&st->resources, res, 0);
        if (st->not_resource) ok = !ok;
        if (!ok) continue;
        for (j = 0; j < st->nconds && ok; j++)
            ok = cond_holds(&st->conds[j], c);
        if (!ok) continue;
        if (st->deny) return IAM_EXPLICIT_DENY;
        if (c->restrict_public && grants_everyone(st)) continue;
        allowed = 1;
    }
    return allowed ? IAM_ALLOW : IAM_IMPLICIT_DENY;
}

int iam_policy_is_public(const struct iam_policy *p)
{
    size_t i, j, k;
    if (p == NULL) return 0;
    for (i = 0; i < p->n; i++) {
        const struct stmt *st = &p->st[i];
        int fixed = 0;
        if (st->deny || !grants_everyone(st)) continue;
        /* "The meaning of public" (S3 user guide, Block Public Access): a
         * fixed, narrow source range makes a grant non-public */
        for (j = 0; j < st->nconds; j++) {
            const struct cond *c = &st->conds[j];
            int narrow = c->op == OP_IP && !c->negate && !c->if_exists;
            for (k = 0; narrow && k < c->vals.n; k++)
                narrow = c->cidrs[k].bits >=
                         (c->cidrs[k].family == AF_INET ? 8 : 32);
            if (narrow) fixed = 1;
        }
        if (!fixed) return 1;
    }
    return 0;
}
