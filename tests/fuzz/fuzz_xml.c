/* fuzz_xml.c: libFuzzer target for every S3 XML request-body parser in
 * gateway/gw_xml.c. The first input byte picks the parser; the rest is the
 * body, as the gateway hands it over (bounded, not NUL-terminated). Every
 * result is released as a handler would release it, so leaks show. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_xml.h"
#include "ol.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    gw_xml_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body;
    size_t len;
    /* A copy of exactly len bytes, so reading past the body is caught. */
    char *copy;

    if (size < 1) return 0;
    len = size - 1;
    copy = malloc(len ? len : 1);
    if (copy == NULL) return 0;
    memcpy(copy, data + 1, len);
    body = copy;

    switch (data[0] % 12) {
    case 0: {
        char region[64];
        gw_xml_parse_location(body, len, region, sizeof(region));
        break;
    }
    case 1: {
        struct gw_xml_delete d;
        memset(&d, 0, sizeof(d));
        if (gw_xml_parse_delete(body, len, &d) == GW_XML_OK) {
            size_t i;
            for (i = 0; i < d.nobjs; i++)
                if (memchr(d.objs[i].key, '\0', d.objs[i].key_len + 1) == NULL)
                    abort(); /* key_len + NUL promised by gw_xml.h */
        }
        gw_xml_delete_cleanup(&d);
        break;
    }
    case 2: {
        struct gw_xml_complete c;
        memset(&c, 0, sizeof(c));
        gw_xml_parse_complete(body, len, &c);
        gw_xml_complete_cleanup(&c);
        break;
    }
    case 3: {
        int enabled;
        gw_xml_parse_versioning(body, len, &enabled);
        break;
    }
    case 4: {
        struct gw_xml_lock_config lc;
        gw_xml_parse_lock_config(body, len, &lc);
        break;
    }
    case 5: {
        char mode[32], until[64];
        gw_xml_parse_retention(body, len, mode, sizeof(mode), until,
                               sizeof(until));
        break;
    }
    case 6: {
        int on;
        gw_xml_parse_legal_hold(body, len, &on);
        break;
    }
    case 7: {
        struct gw_xml_tags t;
        memset(&t, 0, sizeof(t));
        gw_xml_parse_tagging(body, len, &t);
        gw_xml_tags_cleanup(&t);
        break;
    }
    case 8: {
        struct gw_xml_cors c;
        memset(&c, 0, sizeof(c));
        gw_xml_parse_cors(body, len, &c);
        gw_xml_cors_cleanup(&c);
        break;
    }
    case 9: {
        /* The response side escapes client bytes: keep it well-formed. */
        struct gw_xbuf b;
        memset(&b, 0, sizeof(b));
        gw_xbuf_esc(&b, body, len);
        gw_xbuf_urlenc(&b, body, len);
        gw_xbuf_cleanup(&b);
        break;
    }
    case 10: {
        /* lifecycle: parsed, then checked as PutBucketLifecycle does */
        struct gw_xml_lifecycle l;
        memset(&l, 0, sizeof(l));
        if (gw_xml_parse_lifecycle(body, len, &l) == GW_XML_OK) {
            size_t bad;
            size_t i;
            for (i = 0; i < l.n; i++)
                if (l.rules[i].id == NULL) l.rules[i].id = strdup("id");
            (void)ol_lc_check(l.rules, l.n, &bad);
        }
        gw_xml_lifecycle_cleanup(&l);
        break;
    }
    case 11: {
        char algo[32];
        int kms = 0, bucket_key = 0;
        gw_xml_parse_encryption(body, len, algo, &kms, &bucket_key);
        break;
    }
    }
    free(copy);
    return 0;
}
