/* ol_audit.c: verification of the hash-chained audit log (meta's A/
 * records). Entry n is intact when its seq is n, its prev is entry n-1's
 * hash (zeros for entry 1) and SHA-256(prev | seq | time | event)
 * recomputes to its hash; the first entry failing any of these is where
 * the chain breaks, and nothing after it is trusted. */
#include "ol.h"
#include "cf.h"
#include "meta.h"

#include <string.h>

const char *ol_strerror(enum ol_status st)
{
    switch (st) {
    case OL_OK:
        return "ok";
    case OL_EIO:
        return "read error";
    case OL_ENOMEM:
        return "out of memory";
    case OL_EINVAL:
        return "invalid argument";
    }
    return "unknown error";
}

static int chain_one(const struct meta_audit_entry *e, void *arg)
{
    struct ol_chain *c = arg;
    unsigned char h[32];

    if (e->seq != c->entries + 1)
        c->why = "sequence gap (an entry was removed)";
    else if (memcmp(e->prev, c->head, 32) != 0)
        c->why = "previous-hash mismatch (an entry was removed or altered)";
    else {
        meta_audit_hash(e, h);
        if (memcmp(h, e->hash, 32) != 0) c->why = "entry altered";
    }
    if (c->why) {
        c->bad_seq = c->entries + 1;
        return 1;
    }
    c->entries++;
    memcpy(c->head, e->hash, 32);
    c->head_time_ms = e->time_ms;
    return 0;
}

enum ol_status ol_chain_verify(struct meta_db *db, struct ol_chain *out)
{
    enum meta_status st;

    memset(out, 0, sizeof(*out));
    st = meta_audit_foreach(db, chain_one, out);
    if (st == META_ECORRUPT && out->why == NULL) {
        /* an entry that does not even decode breaks the chain there */
        out->why = "entry unreadable (corrupt record)";
        out->bad_seq = out->entries + 1;
        return OL_OK;
    }
    if (st == META_ENOMEM) return OL_ENOMEM;
    return st == META_OK ? OL_OK : OL_EIO;
}
