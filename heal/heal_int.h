/* heal_int.h (heal-internal): what the heal_*.c files share.
 *
 * Multipart versions: the parts hold the data; the version's own data_id
 * names a small record object (written at completion, see
 * heal_rebuild.c) whose shard headers carry the version's record, so a
 * completed multipart upload can be rebuilt like any other version. */
#ifndef HEAL_INT_H
#define HEAL_INT_H

#include <sys/types.h>

#include "heal.h"

/* Calls fn(data_id, size, arg) for the data of v (its own, or each
 * part's); delete markers have none. Returns what the last fn call did
 * (non-zero stops). */
int heal_version_data(const struct meta_version *v,
                      int (*fn)(const char *id, uint64_t size, void *arg),
                      void *arg);

/* A sorted set of data ids. */
struct heal_idset {
    char **ids;
    size_t n;
};
/* Every data id the catalog names (versions, multipart records, upload
 * parts); -1 on a catalog error or ENOMEM. */
int heal_idset_load(struct meta_db *db, struct heal_idset *out);
ssize_t heal_idset_find(const struct heal_idset *s, const char *id);
void heal_idset_free(struct heal_idset *s);
/* The data id of a shard file path ("<id>.<shard>"); 0 if not one. */
int heal_shard_name(const char *path, char *id, size_t cap);

#endif /* HEAL_INT_H */
