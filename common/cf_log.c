/* cf_log.c: bounded, level-filtered log lines to stderr, and the always-on
 * check. One write(2) per line so lines from different threads never
 * interleave mid-line. */
#include "cf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cf_log_verbosity = CF_LOG_NOTICE;

static const char *const level_names[] = { "err", "warn", "notice", "info",
                                           "debug" };

void cf_log_set_level(enum cf_log_level level)
{
    cf_log_verbosity = (int)level;
}

void cf_log_raw(enum cf_log_level level, const char *fmt, ...)
{
    char line[CF_LOG_MAX_LINE];
    char ts[CF_ISO8601_LEN];
    va_list ap;
    int n, m;

    cf_fmt_iso8601_ms(cf_now_ms(), ts);
    n = snprintf(line, sizeof(line), "%s [%s] ", ts,
                 level_names[(unsigned)level < 5 ? level : 4]);
    if (n < 0) return;
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) return;
    n += m;
    if ((size_t)n > sizeof(line) - 2) n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    /* A failed log write has nowhere to be reported. */
    if (write(STDERR_FILENO, line, (size_t)n) < 0) return;
}

void cf_check_failed(const char *cond, const char *file, int line)
{
    cf_log_raw(CF_LOG_ERR, "check failed: %s at %s:%d", cond, file, line);
    abort();
}
