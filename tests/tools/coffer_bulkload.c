/* coffer_bulkload.c: BENCHMARK-ONLY tool that fills a bucket of a STOPPED
 * server's catalog with COUNT empty objects quickly, so LIST can be
 * measured over a million keys (bench/list.sh) without a million PUTs.
 *
 *   coffer-bulkload META_DIR BUCKET OWNER PREFIX COUNT [THREADS]
 *
 * Keys are PREFIX followed by a 9-digit number. The bucket is created
 * (unversioned, owned by OWNER, an access key) when missing. Records go
 * through meta's own API (meta_object_put), from THREADS threads (default
 * 32) so RocksDB's group commit shares each WAL sync among them. Only
 * catalog records are written: the objects reference no shards, so a GET
 * of one fails. Use it on a scratch data directory only; it is built by
 * `make bench`, never by `make all`, and never installed. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cf.h"
#include "meta.h"

static struct meta_db *db;
static const char *bucket, *prefix;
static uint64_t count;
static int64_t now_ms;
static volatile int failed;
static uint64_t next;
static pthread_mutex_t next_lock = PTHREAD_MUTEX_INITIALIZER;

static int take(uint64_t *i)
{
    int ok;
    pthread_mutex_lock(&next_lock);
    ok = next < count && !failed;
    if (ok) *i = next++;
    pthread_mutex_unlock(&next_lock);
    return ok;
}

static void *worker(void *arg)
{
    char key[1100];
    struct meta_version v;
    uint64_t i;
    enum meta_status st;

    (void)arg;
    while (take(&i)) {
        memset(&v, 0, sizeof(v));
        snprintf(v.version_id, sizeof(v.version_id), "null");
        snprintf(v.data_id, sizeof(v.data_id), "bulk%012llu",
                 (unsigned long long)i);
        v.key_len = (size_t)snprintf(key, sizeof(key), "%s%09llu", prefix,
                                     (unsigned long long)i);
        v.key = key;
        v.mtime_ms = now_ms;
        memcpy(v.etag, "d41d8cd98f00b204e9800998ecf8427e", 33); /* MD5("") */
        v.ec_data = 4;
        v.ec_parity = 2;
        v.stripe_size = 1 << 20;
        st = meta_object_put(db, bucket, &v, NULL);
        if (st != META_OK) {
            fprintf(stderr, "coffer-bulkload: %s: %s\n", key,
                    meta_strerror(st));
            failed = 1;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct meta_bucket b;
    pthread_t th[256];
    int nthreads = 32, i, started = 0;
    enum meta_status st;
    char *end;

    if (argc < 6 || argc > 7) {
        fprintf(stderr, "usage: coffer-bulkload META_DIR BUCKET OWNER PREFIX "
                "COUNT [THREADS]\n");
        return 2;
    }
    bucket = argv[2];
    prefix = argv[4];
    count = strtoull(argv[5], &end, 10);
    if (*end || strlen(prefix) > 1000) return 2;
    if (argc == 7) nthreads = atoi(argv[6]) < 1 ? 1 : atoi(argv[6]);
    if (nthreads > 256) nthreads = 256;
    st = meta_open(argv[1], &db);
    if (st != META_OK) {
        fprintf(stderr, "coffer-bulkload: cannot open %s: %s (is a server "
                "running on it?)\n", argv[1], meta_strerror(st));
        return 1;
    }
    now_ms = cf_now_ms();
    memset(&b, 0, sizeof(b));
    snprintf(b.name, sizeof(b.name), "%s", bucket);
    snprintf(b.owner, sizeof(b.owner), "%s", argv[3]);
    b.created_ms = now_ms;
    st = meta_bucket_create(db, &b, NULL);
    if (st != META_OK && st != META_EEXIST) {
        fprintf(stderr, "coffer-bulkload: cannot create bucket %s: %s\n",
                bucket, meta_strerror(st));
        meta_close(db);
        return 1;
    }
    for (i = 0; i < nthreads; i++)
        if (pthread_create(&th[i], NULL, worker, NULL) == 0) started++;
    for (i = 0; i < started; i++) pthread_join(th[i], NULL);
    meta_close(db);
    if (failed || started == 0) return 1;
    printf("coffer-bulkload: %llu objects in %s under %s\n",
           (unsigned long long)count, bucket, prefix);
    return 0;
}
