/* heal_bg.c: the background work of `coffer serve`: a healer fed by reads
 * that met missing or corrupt shards, a scrubber that re-verifies all
 * stored data at a bounded rate, a checkpointer, and the status file that
 * `coffer heal --status` prints.
 *
 * Threads: three of ours (healer, scrubber, checkpointer), each sleeping on
 * bg->cv between work items; heal_bg_report() only takes bg->mu for a few
 * instructions. The status file is rewritten (tmp + rename) under
 * bg->mu after every change worth showing, at most once a second during a
 * scrub. */
#include "heal_int.h"
#include "cf.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HEAL_QUEUE 1024

struct heal_item {
    char id[EC_VERSION_ID_MAX + 1];
    uint64_t size;
};

struct heal_bg {
    struct meta_db *db;
    struct ec_set *set;
    struct heal_bg_config cfg;
    char *status_path;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    volatile int stop_flag;           /* for heal_all's stop pointer */
    pthread_t healer, scrubber, checkpointer;
    int have_healer, have_scrubber, have_checkpointer;
    /* healer queue (ring) and counters, under mu */
    struct heal_item q[HEAL_QUEUE];
    size_t qhead, qlen;
    uint64_t reported, healed_shards, heal_failed, dropped;
    /* scrubber state, under mu */
    int scrubbing;
    uint64_t passes;
    int64_t pass_started_ms, last_pass_end_ms, next_pass_ms;
    struct heal_stats cur, last;
    int64_t last_status_ms;
    uint64_t orphans_removed;
    /* checkpoints */
    uint64_t checkpoints;
    int64_t last_checkpoint_ms;
};

static void status_write_locked(struct heal_bg *bg)
{
    json_t *j;
    char tmp[4200];
    const struct heal_stats *s;
    if (bg->status_path == NULL) return;
    s = bg->scrubbing ? &bg->cur : &bg->last;
    j = json_pack("{s:{s:b,s:I,s:I,s:I,s:I,s:f,s:{s:I,s:I,s:I,s:I,s:I,s:I,"
                  "s:I,s:I}},s:{s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I},s:I}",
                  "scrub", "running", bg->scrubbing, "passes",
                  (json_int_t)bg->passes, "pass_started_ms",
                  (json_int_t)bg->pass_started_ms, "last_pass_end_ms",
                  (json_int_t)bg->last_pass_end_ms, "next_pass_ms",
                  (json_int_t)bg->next_pass_ms, "rate_mib_s",
                  bg->cfg.scrub_rate_mib_s, bg->scrubbing ? "current" : "last",
                  "objects_total", (json_int_t)s->objects_total,
                  "objects_checked", (json_int_t)s->objects_checked,
                  "objects_damaged", (json_int_t)s->objects_damaged,
                  "shards_bad", (json_int_t)s->shards_bad, "shards_rebuilt",
                  (json_int_t)s->shards_rebuilt, "bytes_read",
                  (json_int_t)s->bytes_read, "unrecoverable",
                  (json_int_t)s->unrecoverable, "failed",
                  (json_int_t)s->failed, "healer", "reported",
                  (json_int_t)bg->reported, "queued", (json_int_t)bg->qlen,
                  "shards_rebuilt", (json_int_t)bg->healed_shards, "failed",
                  (json_int_t)bg->heal_failed, "dropped",
                  (json_int_t)bg->dropped, "checkpoints", "taken",
                  (json_int_t)bg->checkpoints, "last_ms",
                  (json_int_t)bg->last_checkpoint_ms, "orphans_removed",
                  (json_int_t)bg->orphans_removed);
    if (j == NULL) return;
    snprintf(tmp, sizeof(tmp), "%s.tmp", bg->status_path);
    if (json_dump_file(j, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) != 0 ||
        rename(tmp, bg->status_path) != 0) {
        char e[128];
        cf_log(CF_LOG_WARN, "heal: cannot write %s: %s", bg->status_path,
               cf_strerror(errno, e, sizeof(e)));
        unlink(tmp);
    }
    json_decref(j);
}

/* Waits until ms (wall clock) or a stop/wakeup; returns non-zero if
 * stopping. Called with mu held. */
static int wait_until(struct heal_bg *bg, int64_t ms)
{
    struct timespec ts;
    if (bg->stop) return 1;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    pthread_cond_timedwait(&bg->cv, &bg->mu, &ts);
    return bg->stop;
}

/* ---- healer ---- */

void heal_bg_report(struct heal_bg *bg, const char *id, uint64_t size)
{
    size_t i;
    if (bg == NULL || strlen(id) > EC_VERSION_ID_MAX) return;
    pthread_mutex_lock(&bg->mu);
    bg->reported++;
    for (i = 0; i < bg->qlen; i++)
        if (strcmp(bg->q[(bg->qhead + i) % HEAL_QUEUE].id, id) == 0) break;
    if (i < bg->qlen) {
        /* already queued */
    } else if (bg->qlen == HEAL_QUEUE) {
        bg->dropped++;
    } else {
        struct heal_item *it = &bg->q[(bg->qhead + bg->qlen) % HEAL_QUEUE];
        snprintf(it->id, sizeof(it->id), "%s", id);
        it->size = size;
        bg->qlen++;
        pthread_cond_broadcast(&bg->cv);
    }
    pthread_mutex_unlock(&bg->mu);
}

static void *healer_main(void *arg)
{
    struct heal_bg *bg = arg;
    pthread_mutex_lock(&bg->mu);
    while (!bg->stop) {
        struct heal_item it;
        struct ec_heal_result hr;
        enum ec_status est;
        if (bg->qlen == 0) {
            pthread_cond_wait(&bg->cv, &bg->mu);
            continue;
        }
        it = bg->q[bg->qhead];
        bg->qhead = (bg->qhead + 1) % HEAL_QUEUE;
        bg->qlen--;
        pthread_mutex_unlock(&bg->mu);
        est = ec_heal(bg->set, it.id, it.size, 1, &hr);
        if (est == EC_OK && hr.shards_rebuilt)
            cf_log(CF_LOG_NOTICE, "heal: data %s: rebuilt %d shard(s) "
                   "found bad by a read", it.id, hr.shards_rebuilt);
        else if (est != EC_OK && est != EC_ENOTFOUND)
            cf_log(CF_LOG_ERR, "heal: data %s: %s", it.id, ec_strerror(est));
        pthread_mutex_lock(&bg->mu);
        bg->healed_shards += (uint64_t)hr.shards_rebuilt;
        if (est != EC_OK && est != EC_ENOTFOUND) bg->heal_failed++;
        status_write_locked(bg);
    }
    pthread_mutex_unlock(&bg->mu);
    return NULL;
}

/* ---- scrubber ---- */

static void scrub_progress(const struct heal_stats *st, void *arg)
{
    struct heal_bg *bg = arg;
    int64_t now = cf_now_ms();
    pthread_mutex_lock(&bg->mu);
    bg->cur = *st;
    if (now - bg->last_status_ms >= 1000) {
        bg->last_status_ms = now;
        status_write_locked(bg);
    }
    pthread_mutex_unlock(&bg->mu);
}

/* The end of the last pass, from a status file a previous run left. */
static int64_t last_pass_from_file(const char *path)
{
    json_t *j = json_load_file(path, 0, NULL), *v;
    int64_t ms = 0;
    if (j == NULL) return 0;
    v = json_object_get(json_object_get(j, "scrub"), "last_pass_end_ms");
    if (json_is_integer(v)) ms = (int64_t)json_integer_value(v);
    json_decref(j);
    return ms;
}

static void *scrubber_main(void *arg)
{
    struct heal_bg *bg = arg;
    int64_t start = cf_now_ms();
    uint64_t removed = 0;

    /* Orphans: shard files no version names and older than this start
     * (nothing of ours is in flight yet for them). */
    if (heal_remove_orphans(bg->db, bg->set, start, &removed) != HEAL_OK)
        cf_log(CF_LOG_WARN, "heal: orphan scan failed");
    pthread_mutex_lock(&bg->mu);
    bg->orphans_removed = removed;
    if (bg->cfg.scrub_rate_mib_s <= 0) {
        status_write_locked(bg);
        pthread_mutex_unlock(&bg->mu);
        return NULL;
    }
    {
        int64_t last = bg->status_path ? last_pass_from_file(
                                             bg->status_path)
                                       : 0;
        bg->last_pass_end_ms = last;
        bg->next_pass_ms = last ? last + bg->cfg.scrub_interval_ms
                                : start + 1000;
    }
    status_write_locked(bg);
    while (!bg->stop) {
        struct heal_opts o;
        struct heal_stats st;
        enum heal_status hs;
        if (cf_now_ms() < bg->next_pass_ms) {
            wait_until(bg, bg->next_pass_ms);
            continue;
        }
        bg->scrubbing = 1;
        bg->pass_started_ms = cf_now_ms();
        memset(&bg->cur, 0, sizeof(bg->cur));
        status_write_locked(bg);
        pthread_mutex_unlock(&bg->mu);
        cf_log(CF_LOG_NOTICE, "scrub: pass started (%.1f MiB/s)",
               bg->cfg.scrub_rate_mib_s);
        memset(&o, 0, sizeof(o));
        o.rate_mib_s = bg->cfg.scrub_rate_mib_s;
        o.progress = scrub_progress;
        o.arg = bg;
        o.stop = &bg->stop_flag;
        hs = heal_all(bg->db, bg->set, &o, &st);
        cf_log(hs == HEAL_OK ? CF_LOG_NOTICE : CF_LOG_ERR,
               "scrub: pass %s: %llu objects checked, %llu damaged, %llu "
               "shards rebuilt, %llu unrecoverable, %.1f MiB read",
               bg->stop_flag ? "interrupted" : "done",
               (unsigned long long)st.objects_checked,
               (unsigned long long)st.objects_damaged,
               (unsigned long long)st.shards_rebuilt,
               (unsigned long long)st.unrecoverable,
               (double)st.bytes_read / 1048576.0);
        pthread_mutex_lock(&bg->mu);
        bg->scrubbing = 0;
        if (!bg->stop_flag) {
            bg->passes++;
            bg->last = st;
            bg->last_pass_end_ms = cf_now_ms();
            bg->next_pass_ms = bg->last_pass_end_ms +
                               bg->cfg.scrub_interval_ms;
        }
        status_write_locked(bg);
    }
    pthread_mutex_unlock(&bg->mu);
    return NULL;
}

/* ---- checkpointer ---- */

static void *checkpointer_main(void *arg)
{
    struct heal_bg *bg = arg;
    pthread_mutex_lock(&bg->mu);
    while (!bg->stop) {
        enum heal_status hs;
        pthread_mutex_unlock(&bg->mu);
        hs = heal_checkpoint(bg->db, bg->cfg.disks, bg->cfg.ndisks,
                             bg->cfg.checkpoint_keep);
        pthread_mutex_lock(&bg->mu);
        if (hs == HEAL_OK) {
            bg->checkpoints++;
            bg->last_checkpoint_ms = cf_now_ms();
            status_write_locked(bg);
        }
        {
            int64_t next = cf_now_ms() + bg->cfg.checkpoint_interval_ms;
            while (!bg->stop && cf_now_ms() < next) wait_until(bg, next);
        }
    }
    pthread_mutex_unlock(&bg->mu);
    return NULL;
}

enum heal_status heal_bg_start(struct meta_db *db, struct ec_set *set,
                               const struct heal_bg_config *cfg,
                               struct heal_bg **out)
{
    struct heal_bg *bg = calloc(1, sizeof(*bg));
    pthread_condattr_t ca;
    if (bg == NULL) return HEAL_ENOMEM;
    bg->db = db;
    bg->set = set;
    bg->cfg = *cfg;
    if (cfg->status_path && (bg->status_path = strdup(cfg->status_path)) ==
                                NULL) {
        free(bg);
        return HEAL_ENOMEM;
    }
    pthread_mutex_init(&bg->mu, NULL);
    /* the wall clock: deadlines are cf_now_ms() values */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_REALTIME);
    pthread_cond_init(&bg->cv, &ca);
    pthread_condattr_destroy(&ca);
    bg->have_healer = pthread_create(&bg->healer, NULL, healer_main, bg) == 0;
    bg->have_scrubber =
        pthread_create(&bg->scrubber, NULL, scrubber_main, bg) == 0;
    if (cfg->checkpoint_interval_ms > 0 && cfg->ndisks > 0)
        bg->have_checkpointer = pthread_create(&bg->checkpointer, NULL,
                                               checkpointer_main, bg) == 0;
    *out = bg;
    return HEAL_OK;
}

void heal_bg_stop(struct heal_bg *bg)
{
    if (bg == NULL) return;
    pthread_mutex_lock(&bg->mu);
    bg->stop = 1;
    bg->stop_flag = 1;
    pthread_cond_broadcast(&bg->cv);
    pthread_mutex_unlock(&bg->mu);
    if (bg->have_healer) pthread_join(bg->healer, NULL);
    if (bg->have_scrubber) pthread_join(bg->scrubber, NULL);
    if (bg->have_checkpointer) pthread_join(bg->checkpointer, NULL);
    pthread_cond_destroy(&bg->cv);
    pthread_mutex_destroy(&bg->mu);
    free(bg->status_path);
    free(bg);
}
