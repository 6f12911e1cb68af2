/* fuzz_conf.c: libFuzzer target for the configuration loader (conf/conf.c:
 * libyaml events, keys, values, validation with file:line messages) and
 * conf_finalize()'s cross-field checks.
 *
 * conf_load_file() reads a path, so the input is written to one temp file
 * made at start (under $TMPDIR, /dev/shm when it exists) and rewritten for
 * each run; it is unlinked at exit. Every run starts from the defaults and
 * ends with conf_cleanup(), so a leak in any error path shows. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cf.h"
#include "conf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[256];
static int fd = -1;

static void cleanup(void)
{
    if (fd >= 0) close(fd);
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("TMPDIR");
    if (dir == NULL) dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof(path), "%s/fuzz_conf.XXXXXX", dir);
    fd = mkstemp(path);
    if (fd < 0) abort();
    atexit(cleanup);
    cf_log_set_level(CF_LOG_ERR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conf c;
    char err[CONF_ERR_MAX];

    if (size > 65536) return 0;
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    memset(&c, 0, sizeof(c));
    if (conf_init_defaults(&c) != CONF_OK) abort();
    err[0] = '\0';
    if (conf_load_file(&c, path, err, sizeof(err)) == CONF_OK) {
        err[0] = '\0';
        conf_finalize(&c, err, sizeof(err));
    }
    if (memchr(err, '\0', sizeof(err)) == NULL) abort();
    conf_cleanup(&c);
    return 0;
}
