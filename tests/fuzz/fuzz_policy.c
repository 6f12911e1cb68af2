/* fuzz_policy.c: libFuzzer target for bucket policy JSON (iam/
 * iam_policy.c): the parser with AWS's size limit, then every accepted
 * policy evaluated against request contexts chosen by the input, and
 * is-public; and iam_glob() on a pattern/subject pair. Byte 0: bits 0-2
 * pick the action, bit 3 anonymous, bit 4 TLS, bit 5 an IPv6 source,
 * bit 6 a lock context, bit 7 glob mode (the rest is "pattern\0subject"). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iam.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const actions[8] = {
    "s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteObject",
    "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention",
    "s3:PutObjectRetention", "s3:GetBucketPolicy",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct iam_policy *p = NULL;
    char err[256];
    char *copy;
    size_t len;
    uint8_t mode;

    if (size < 1) return 0;
    mode = data[0];
    len = size - 1;
    /* exactly len bytes, so reading past the body is caught; +1 for the
     * glob mode's terminator */
    copy = malloc(len + 1);
    if (copy == NULL) return 0;
    memcpy(copy, data + 1, len);
    copy[len] = '\0';
    if (mode & 0x80) {
        size_t pl = strlen(copy);
        const char *subject = pl < len ? copy + pl + 1 : "";
        (void)iam_glob(copy, subject, mode & 1);
        free(copy);
        return 0;
    }
    if (iam_policy_parse(copy, len, "fuzz-bucket", &p, err, sizeof(err)) ==
        IAM_OK) {
        struct iam_ctx c;
        memset(&c, 0, sizeof(c));
        c.principal = (mode & 0x08) ? NULL : "alice";
        c.action = actions[mode & 7];
        c.bucket = "fuzz-bucket";
        c.key = (mode & 7) == 2 ? NULL : "dir/key.txt";
        c.secure_transport = (mode >> 4) & 1;
        c.source_ip = (mode & 0x20) ? "2001:db8::7" : "192.0.2.10";
        c.prefix = (mode & 7) == 2 ? "dir/" : NULL;
        c.lock_mode = (mode & 0x40) ? "COMPLIANCE" : NULL;
        c.lock_days = (mode & 0x40) ? 400 : -1;
        (void)iam_policy_eval(p, &c);
        c.restrict_public = 1;
        (void)iam_policy_eval(p, &c);
        (void)iam_policy_is_public(p);
        iam_policy_free(p);
    }
    free(copy);
    return 0;
}
