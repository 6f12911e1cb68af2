/* fault.c: an LD_PRELOAD shim that makes one disk directory fail, for the
 * integration tests only (built as build/tests/libcoffer_fault.so, never
 * linked into coffer). Files whose path contains COFFER_FAULT_PATH fail:
 *
 *   COFFER_FAULT_PATH   substring of the paths to fail, e.g. "/disk3/";
 *                       several separated by commas ("/disk1/,/disk2/")
 *   COFFER_FAULT_ERRNO  ENOSPC (default) or EIO
 *   COFFER_FAULT_OPS    write (default): creating such a file fails, and
 *                       so does writing or syncing one opened earlier;
 *                       read: reading such a file fails
 *   COFFER_FAULT_KILL_AFTER_SYNCS=N
 *                       instead of failing anything: the process kills
 *                       itself (SIGKILL) right after the Nth successful
 *                       fsync/fdatasync of such a file, a crash at a
 *                       durable point (e.g. path ".log": RocksDB's WAL)
 *
 * A full disk behaves like "write" with ENOSPC; a dying one like "read"
 * with EIO. The shim remembers which descriptors it opened on a failing
 * path; everything else passes through untouched. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAXFD 65536

static unsigned char bad_fd[MAXFD];
static const char *fpath;
static int ferr = ENOSPC, fread_ops, fkill_mode;
static long fkill_after, nsyncs;

__attribute__((constructor)) static void init(void)
{
    const char *e = getenv("COFFER_FAULT_ERRNO"), *o = getenv(
                                                       "COFFER_FAULT_OPS");
    fpath = getenv("COFFER_FAULT_PATH");
    if (fpath && !*fpath) fpath = NULL;
    if (e && strcmp(e, "EIO") == 0) ferr = EIO;
    const char *k = getenv("COFFER_FAULT_KILL_AFTER_SYNCS");
    fread_ops = o && strcmp(o, "read") == 0;
    if (k && *k) {
        fkill_after = strtol(k, NULL, 10);
        fkill_mode = fkill_after > 0;
    }
}

static int bad(int fd);

/* After a successful sync of a marked file in kill mode. */
static void count_sync(int fd, int rc)
{
    if (fkill_mode && rc == 0 && bad(fd) &&
        __atomic_add_fetch(&nsyncs, 1, __ATOMIC_SEQ_CST) == fkill_after)
        raise(SIGKILL);
}

static int hit(const char *path)
{
    const char *p = fpath;
    if (p == NULL || path == NULL) return 0;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char one[256];
        if (n > 0 && n < sizeof(one)) {
            memcpy(one, p, n);
            one[n] = '\0';
            if (strstr(path, one) != NULL) return 1;
        }
        if (e == NULL) break;
        p = e + 1;
    }
    return 0;
}

static int mark(int fd, const char *path)
{
    if (fd >= 0 && fd < MAXFD) bad_fd[fd] = (unsigned char)hit(path);
    return fd;
}

static int bad(int fd)
{
    return fd >= 0 && fd < MAXFD && bad_fd[fd];
}

#define REAL(name, ret, ...)                                               \
    static ret (*real_##name)(__VA_ARGS__);                                \
    if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name)

static int do_open(const char *name, int dirfd, const char *path, int flags,
                   mode_t mode)
{
    static int (*r_open)(const char *, int, ...);
    static int (*r_openat)(int, const char *, int, ...);
    int fd;
    if (!fread_ops && !fkill_mode && hit(path) && (flags & O_CREAT)) {
        errno = ferr;
        return -1;
    }
    if (dirfd == -1000) {
        if (!r_open) r_open = dlsym(RTLD_NEXT, name);
        fd = r_open(path, flags, mode);
    } else {
        if (!r_openat) r_openat = dlsym(RTLD_NEXT, name);
        fd = r_openat(dirfd, path, flags, mode);
    }
    return mark(fd, path);
}

#define MODE_ARG                                                           \
    mode_t mode = 0;                                                       \
    if (flags & (O_CREAT | O_TMPFILE)) {                                   \
        va_list ap;                                                        \
        va_start(ap, flags);                                               \
        mode = (mode_t)va_arg(ap, int);                                    \
        va_end(ap);                                                        \
    }

int open(const char *path, int flags, ...)
{
    MODE_ARG
    return do_open("open", -1000, path, flags, mode);
}
int open64(const char *path, int flags, ...)
{
    MODE_ARG
    return do_open("open64", -1000, path, flags, mode);
}
int openat(int dirfd, const char *path, int flags, ...)
{
    MODE_ARG
    return do_open("openat", dirfd, path, flags, mode);
}
int openat64(int dirfd, const char *path, int flags, ...)
{
    MODE_ARG
    return do_open("openat64", dirfd, path, flags, mode);
}

#define FAIL_W(fd)                                                         \
    if (!fread_ops && !fkill_mode && bad(fd)) {                                           \
        errno = ferr;                                                      \
        return -1;                                                         \
    }
#define FAIL_R(fd)                                                         \
    if (fread_ops && bad(fd)) {                                            \
        errno = ferr;                                                      \
        return -1;                                                         \
    }

ssize_t write(int fd, const void *b, size_t n)
{
    REAL(write, ssize_t, int, const void *, size_t);
    FAIL_W(fd);
    return real_write(fd, b, n);
}
ssize_t writev(int fd, const struct iovec *v, int n)
{
    REAL(writev, ssize_t, int, const struct iovec *, int);
    FAIL_W(fd);
    return real_writev(fd, v, n);
}
ssize_t pwrite(int fd, const void *b, size_t n, off_t o)
{
    REAL(pwrite, ssize_t, int, const void *, size_t, off_t);
    FAIL_W(fd);
    return real_pwrite(fd, b, n, o);
}
ssize_t pwrite64(int fd, const void *b, size_t n, off_t o)
{
    REAL(pwrite64, ssize_t, int, const void *, size_t, off_t);
    FAIL_W(fd);
    return real_pwrite64(fd, b, n, o);
}
/* A closed number may come back from accept() or socket(), which are not
 * watched: forget it, or a client socket would inherit a disk's fault. */
int close(int fd)
{
    REAL(close, int, int);
    if (fd >= 0 && fd < MAXFD) bad_fd[fd] = 0;
    return real_close(fd);
}
ssize_t pwritev(int fd, const struct iovec *v, int n, off_t o)
{
    REAL(pwritev, ssize_t, int, const struct iovec *, int, off_t);
    FAIL_W(fd);
    return real_pwritev(fd, v, n, o);
}
ssize_t pwritev64(int fd, const struct iovec *v, int n, off_t o)
{
    REAL(pwritev64, ssize_t, int, const struct iovec *, int, off_t);
    FAIL_W(fd);
    return real_pwritev64(fd, v, n, o);
}
int fdatasync(int fd)
{
    REAL(fdatasync, int, int);
    int rc;
    FAIL_W(fd);
    rc = real_fdatasync(fd);
    count_sync(fd, rc);
    return rc;
}
int fsync(int fd)
{
    REAL(fsync, int, int);
    int rc;
    FAIL_W(fd);
    rc = real_fsync(fd);
    count_sync(fd, rc);
    return rc;
}
ssize_t read(int fd, void *b, size_t n)
{
    REAL(read, ssize_t, int, void *, size_t);
    FAIL_R(fd);
    return real_read(fd, b, n);
}
ssize_t pread(int fd, void *b, size_t n, off_t o)
{
    REAL(pread, ssize_t, int, void *, size_t, off_t);
    FAIL_R(fd);
    return real_pread(fd, b, n, o);
}
ssize_t pread64(int fd, void *b, size_t n, off_t o)
{
    REAL(pread64, ssize_t, int, void *, size_t, off_t);
    FAIL_R(fd);
    return real_pread64(fd, b, n, o);
}
ssize_t preadv(int fd, const struct iovec *v, int n, off_t o)
{
    REAL(preadv, ssize_t, int, const struct iovec *, int, off_t);
    FAIL_R(fd);
    return real_preadv(fd, v, n, o);
}
ssize_t preadv64(int fd, const struct iovec *v, int n, off_t o)
{
    REAL(preadv64, ssize_t, int, const struct iovec *, int, off_t);
    FAIL_R(fd);
    return real_preadv64(fd, v, n, o);
}
