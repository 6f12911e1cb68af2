/* ol_clock.c: the compliance clock. The only file in objlock/ that reads a
 * clock.
 *
 * compliance_now = base + (boottime_now - boottime_at_start), where base is
 * the persisted compliance time (or, on the very first start, the wall
 * clock). CLOCK_BOOTTIME counts real elapsed time including suspend and is
 * not moved by settimeofday, so changing the system date — to 2099, say —
 * moves nothing here. While the server is down no time passes for the
 * clock: retention is extended by downtime, never shortened.
 *
 * Invariant: ol_clock_now() never returns less than a value it returned
 * or persisted before. */
#include "ol.h"
#include "cf.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t clock_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t base_ms;          /* compliance time at start */
static int64_t boot_at_start_ms; /* CLOCK_BOOTTIME at start */
static int64_t last_ms;          /* largest value handed out */
static ol_clock_save_fn save_fn;
static void *save_arg;
#ifdef COFFER_TEST_CLOCK
static int64_t test_offset_ms;
#endif

static int64_t boottime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ol_clock_start(ol_clock_load_fn load, ol_clock_save_fn save, void *arg)
{
    int64_t persisted = load ? load(arg) : 0;
    int64_t start;

    if (persisted < 0) return -1;
    if (persisted == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        start = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    } else {
        start = persisted;
    }
    pthread_mutex_lock(&clock_lock);
    base_ms = start;
    boot_at_start_ms = boottime_ms();
    last_ms = start;
    save_fn = save;
    save_arg = arg;
#ifdef COFFER_TEST_CLOCK
    {
        /* Test builds only: start this many seconds ahead (lifecycle
         * tests need days to pass). */
        const char *adv = getenv("COFFER_TEST_CLOCK_ADVANCE_S");
        if (adv) test_offset_ms += strtoll(adv, NULL, 10) * 1000;
    }
#endif
    pthread_mutex_unlock(&clock_lock);
    return ol_clock_persist();
}

int64_t ol_clock_now(void)
{
    int64_t now;
    pthread_mutex_lock(&clock_lock);
    now = base_ms + (boottime_ms() - boot_at_start_ms);
#ifdef COFFER_TEST_CLOCK
    now += test_offset_ms;
#endif
    if (now < last_ms) now = last_ms;
    last_ms = now;
    pthread_mutex_unlock(&clock_lock);
    return now;
}

int ol_clock_persist(void)
{
    int64_t now = ol_clock_now();
    if (save_fn == NULL) return 0;
    return save_fn(now, save_arg);
}

#ifdef COFFER_TEST_CLOCK
void ol_clock_test_advance(int64_t ms)
{
    pthread_mutex_lock(&clock_lock);
    test_offset_ms += ms;
    pthread_mutex_unlock(&clock_lock);
}
#endif

int64_t ol_clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int drift_over; /* guarded by clock_lock: last check was over */

int64_t ol_clock_check_drift(int at_start)
{
    int64_t now = ol_clock_now(), wall = ol_clock_wall_ms();
    int64_t drift = wall - now;
    int64_t mag = drift < 0 ? -drift : drift;
    int over = mag > OL_CLOCK_DRIFT_WARN_MS, was;
    char c[CF_ISO8601_LEN], w[CF_ISO8601_LEN];

    pthread_mutex_lock(&clock_lock);
    was = drift_over;
    drift_over = over;
    pthread_mutex_unlock(&clock_lock);
    if (!at_start && over == was) return drift;
    cf_fmt_iso8601_ms(now, c);
    cf_fmt_iso8601_ms(wall, w);
    if (over)
        cf_log(CF_LOG_WARN, "compliance clock %s, system clock %s: drift "
               "%+lld s (above %lld s); retention follows the compliance "
               "clock", c, w, (long long)(drift / 1000),
               (long long)(OL_CLOCK_DRIFT_WARN_MS / 1000));
    else
        cf_log(CF_LOG_NOTICE,
               "compliance clock %s, system clock %s: drift %+lld ms%s", c,
               w, (long long)drift, at_start ? "" : " (back within bounds)");
    return drift;
}

void ol_clock_deadline(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}
