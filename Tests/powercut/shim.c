/*
 * powercut shim: an LD_PRELOAD library that records, in an append-only op log, every mutation and
 * every sync of the files under one directory, so that powercut.py can compute what a power cut
 * at the moment the process was killed would have left on disk (see README.md).
 *
 *   POWERCUT_DIR  the directory to watch (files and directories below it, at any depth)
 *   POWERCUT_LOG  the op log to append to (must not be below POWERCUT_DIR)
 *
 * Build: cc -shared -fPIC -O2 -o powercut.so shim.c -ldl
 *
 * Every record is one write() of the whole record to the log, made under a mutex with the raw
 * syscall (never through these hooks), so records of concurrent threads never interleave and the
 * log order is the order in which the operations completed (as far as any thread of the program
 * could tell). Mutations are logged after they succeed (with the bytes actually written), and
 * announced by an INTENT record just before the call (so a change under way at the kill is known
 * as such); a sync is logged twice: SYNC_BEGIN before the call (what it covers: every mutation
 * logged before it) and SYNC_END after (its result). A sync that never ended (the process was
 * killed in it) or failed counts for nothing.
 *
 * Descriptors are mapped to "handles" (one per successful open of a watched path); dup'ed
 * descriptors share their handle. Each descriptor's (st_dev, st_ino) is remembered and checked at
 * every use, so a descriptor number that was reused for a socket behind our back (a close we did
 * not see) is never mistaken for the file.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif

/* ---- record format (little-endian, packed; parsed by powercut.py) ---------------------------- */

#define PC_MAGIC 0x54554350u /* "PCUT" */

enum pc_type {
    PC_OPEN = 1,        /* handle=new handle, a=open flags, b=created, c=is_dir, path1 */
    PC_CLOSE = 2,       /* handle, a=fd */
    PC_DUP = 3,         /* handle, a=old fd, b=new fd */
    PC_WRITE = 4,       /* handle, a=offset, b=length, data (or flag ZERO: length zeros) */
    PC_TRUNCATE = 5,    /* handle, a=length */
    PC_FALLOCATE = 6,   /* handle, a=offset, b=length, c=mode (posix_fallocate: mode 0) */
    PC_SYNC_BEGIN = 7,  /* handle, a=sync id, b=kind (0 fsync, 1 fdatasync) */
    PC_SYNC_END = 8,    /* handle, a=sync id, c=0 or errno */
    PC_SYNC_RANGE = 9,  /* handle, a=offset, b=nbytes, c=flags: sync_file_range, no durability */
    PC_UNLINK = 10,     /* path1, c=1 for rmdir / AT_REMOVEDIR */
    PC_RENAME = 11,     /* path1 -> path2, c=renameat2 flags */
    PC_MKDIR = 12,      /* path1 */
    PC_TRUNCATE_PATH = 13, /* path1, a=length */
    PC_SYNCALL_BEGIN = 14, /* a=sync id, b=0 sync() / 1 syncfs() */
    PC_SYNCALL_END = 15,   /* a=sync id, c=0 or errno */
    PC_UNSUPPORTED = 16,   /* handle or path1; path2 = what (e.g. "mmap-shared-write", "link") */
    PC_START = 17,         /* path1 = watched dir, path2 = executable; a=pid */
    PC_INTENT = 18,        /* logged just before a mutation: handle or path1 (path2), a=offset, b=length,
                            * c=record type that will report it. The thread's next record resolves it
                            * (done, or failed if no report came); a thread whose last record is an
                            * intent was killed with the call under way: it may or may not have happened. */
};

#define PC_FLAG_ZERO 1u /* PC_WRITE whose bytes are all zero: data omitted */

struct pc_hdr {
    uint32_t magic;
    uint32_t size; /* whole record, header included */
    uint64_t seq;
    uint64_t time_ns;
    uint32_t type;
    int32_t tid;
    int64_t handle;
    int64_t a, b, c;
    uint32_t path1_len, path2_len, data_len, flags;
} __attribute__((packed));

/* ---- real functions -------------------------------------------------------------------------- */

static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real___open_2)(const char *, int);
static int (*real___open64_2)(const char *, int);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real___openat_2)(int, const char *, int);
static int (*real___openat64_2)(int, const char *, int);
static int (*real_creat)(const char *, mode_t);
static int (*real_creat64)(const char *, mode_t);
static int (*real_close)(int);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_fcntl)(int, int, ...);
static int (*real_fcntl64)(int, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev64)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev2)(int, const struct iovec *, int, off_t, int);
static ssize_t (*real_pwritev64v2)(int, const struct iovec *, int, off_t, int);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);
static int (*real_truncate)(const char *, off_t);
static int (*real_truncate64)(const char *, off_t);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_fallocate64)(int, int, off_t, off_t);
static int (*real_posix_fallocate)(int, off_t, off_t);
static int (*real_posix_fallocate64)(int, off_t, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_sync_file_range)(int, off_t, off_t, unsigned int);
static void (*real_sync)(void);
static int (*real_syncfs)(int);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_rmdir)(const char *);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned int);
static int (*real_mkdir)(const char *, mode_t);
static int (*real_mkdirat)(int, const char *, mode_t);
static int (*real_link)(const char *, const char *);
static int (*real_linkat)(int, const char *, int, const char *, int);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static void *(*real_mmap64)(void *, size_t, int, int, int, off_t);
static ssize_t (*real_copy_file_range)(int, off_t *, int, off_t *, size_t, unsigned int);
static ssize_t (*real_sendfile)(int, int, off_t *, size_t);
static ssize_t (*real_sendfile64)(int, int, off_t *, size_t);

static void *resolve(const char *name) {
    void *symbol = dlsym(RTLD_NEXT, name);
    return symbol;
}

#define RESOLVE(name) real_##name = (__typeof__(real_##name))resolve(#name)

/* ---- state ----------------------------------------------------------------------------------- */

static pthread_mutex_t pc_lock = PTHREAD_MUTEX_INITIALIZER;
static int pc_log_fd = -1;
static char pc_dir[PATH_MAX];      /* watched directory, lexically normalized, no trailing slash */
static size_t pc_dir_len;
static char pc_dir_real[PATH_MAX]; /* its realpath, if different */
static size_t pc_dir_real_len;
static uint64_t pc_seq;
static int64_t pc_next_handle = 1;
static int64_t pc_next_sync = 1;
static volatile int pc_ready;
static __thread int pc_busy;

#define PC_MAX_FD 65536
struct pc_fd {
    int64_t handle; /* 0 = not watched */
    dev_t dev;
    ino_t ino;
    int is_dir;
};
static struct pc_fd pc_fds[PC_MAX_FD];

static long raw_fstat(int fd, struct stat *st) { return syscall(SYS_fstat, fd, st); }

static void resolve_all(void) {
    RESOLVE(open); RESOLVE(open64); RESOLVE(__open_2); RESOLVE(__open64_2);
    RESOLVE(openat); RESOLVE(openat64); RESOLVE(__openat_2); RESOLVE(__openat64_2);
    RESOLVE(creat); RESOLVE(creat64); RESOLVE(close); RESOLVE(dup); RESOLVE(dup2); RESOLVE(dup3);
    RESOLVE(fcntl); RESOLVE(fcntl64);
    RESOLVE(write); RESOLVE(pwrite); RESOLVE(pwrite64); RESOLVE(writev); RESOLVE(pwritev);
    RESOLVE(pwritev64); RESOLVE(pwritev2); RESOLVE(pwritev64v2);
    RESOLVE(ftruncate); RESOLVE(ftruncate64); RESOLVE(truncate); RESOLVE(truncate64);
    RESOLVE(fallocate); RESOLVE(fallocate64); RESOLVE(posix_fallocate); RESOLVE(posix_fallocate64);
    RESOLVE(fsync); RESOLVE(fdatasync); RESOLVE(sync_file_range); RESOLVE(sync); RESOLVE(syncfs);
    RESOLVE(unlink); RESOLVE(unlinkat); RESOLVE(rmdir); RESOLVE(rename); RESOLVE(renameat);
    RESOLVE(renameat2); RESOLVE(mkdir); RESOLVE(mkdirat); RESOLVE(link); RESOLVE(linkat);
    RESOLVE(mmap); RESOLVE(mmap64); RESOLVE(copy_file_range); RESOLVE(sendfile); RESOLVE(sendfile64);
}

/* Lexically normalizes an absolute path in place: collapses "//", "/./" and "/x/../". */
static void normalize(char *path) {
    char out[PATH_MAX];
    size_t n = 0;
    const char *p = path;
    out[0] = '\0';
    while (*p) {
        while (*p == '/') p++;
        if (!*p) break;
        const char *start = p;
        while (*p && *p != '/') p++;
        size_t len = (size_t)(p - start);
        if (len == 1 && start[0] == '.') continue;
        if (len == 2 && start[0] == '.' && start[1] == '.') {
            while (n > 0 && out[n - 1] != '/') n--;
            if (n > 0) n--;
            out[n] = '\0';
            continue;
        }
        if (n + 1 + len >= sizeof out) return; /* too long: leave as is */
        out[n++] = '/';
        memcpy(out + n, start, len);
        n += len;
        out[n] = '\0';
    }
    if (n == 0) { out[0] = '/'; out[1] = '\0'; }
    strcpy(path, out);
}

static void init(void) {
    if (pc_ready) return;
    pthread_mutex_lock(&pc_lock);
    if (pc_ready) { pthread_mutex_unlock(&pc_lock); return; }
    resolve_all();
    const char *dir = getenv("POWERCUT_DIR");
    const char *log = getenv("POWERCUT_LOG");
    if (dir && log && dir[0] == '/' && strlen(dir) < sizeof pc_dir) {
        strcpy(pc_dir, dir);
        normalize(pc_dir);
        pc_dir_len = strcmp(pc_dir, "/") == 0 ? 0 : strlen(pc_dir);
        char resolved[PATH_MAX];
        if (realpath(pc_dir, resolved) && strcmp(resolved, pc_dir) != 0) {
            strcpy(pc_dir_real, resolved);
            pc_dir_real_len = strlen(pc_dir_real);
        }
        int fd = (int)syscall(SYS_openat, AT_FDCWD, log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            /* Out of the way of descriptor numbers the program will use. */
            int high = (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 1000);
            if (high >= 0) { syscall(SYS_close, fd); fd = high; }
            pc_log_fd = fd;
        } else {
            static const char msg[] = "powercut: cannot open POWERCUT_LOG\n";
            syscall(SYS_write, 2, msg, sizeof msg - 1);
        }
    }
    __sync_synchronize();
    pc_ready = 1;
    pthread_mutex_unlock(&pc_lock);
}

static inline int active(void) {
    if (!pc_ready) init();
    return pc_log_fd >= 0 && !pc_busy;
}

static inline int watched_fd(int fd) {
    return fd >= 0 && fd < PC_MAX_FD && pc_fds[fd].handle != 0;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int all_zero(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

/* Appends one record; call with pc_lock held. `iov`/`iovcnt` are the data (may be NULL). */
static void emit_locked(uint32_t type, int64_t handle, int64_t a, int64_t b, int64_t c, const char *path1,
                        const char *path2, const struct iovec *iov, int iovcnt, size_t data_len) {
    size_t l1 = path1 ? strlen(path1) : 0, l2 = path2 ? strlen(path2) : 0;
    uint32_t flags = 0;
    if (iov && data_len > 0) {
        int zero = 1;
        for (int i = 0; i < iovcnt && zero; i++) zero = all_zero(iov[i].iov_base, iov[i].iov_len);
        if (zero) { flags |= PC_FLAG_ZERO; iov = NULL; }
    }
    size_t stored = iov ? data_len : 0;
    size_t size = sizeof(struct pc_hdr) + l1 + l2 + stored;
    unsigned char stack[4096];
    unsigned char *buf = size <= sizeof stack ? stack : malloc(size);
    if (!buf) return;
    struct pc_hdr h;
    memset(&h, 0, sizeof h);
    h.magic = PC_MAGIC;
    h.size = (uint32_t)size;
    h.seq = ++pc_seq;
    h.time_ns = now_ns();
    h.type = type;
    h.tid = (int32_t)syscall(SYS_gettid);
    h.handle = handle;
    h.a = a; h.b = b; h.c = c;
    h.path1_len = (uint32_t)l1; h.path2_len = (uint32_t)l2;
    h.data_len = (uint32_t)data_len; h.flags = flags;
    size_t at = 0;
    memcpy(buf, &h, sizeof h); at += sizeof h;
    if (l1) { memcpy(buf + at, path1, l1); at += l1; }
    if (l2) { memcpy(buf + at, path2, l2); at += l2; }
    if (iov) {
        size_t left = data_len;
        for (int i = 0; i < iovcnt && left > 0; i++) {
            size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
            memcpy(buf + at, iov[i].iov_base, n);
            at += n; left -= n;
        }
    }
    size_t done = 0;
    while (done < size) {
        long w = syscall(SYS_write, pc_log_fd, buf + done, size - done);
        if (w < 0) { if (errno == EINTR) continue; break; }
        done += (size_t)w;
    }
    if (buf != stack) free(buf);
}

static void emit(uint32_t type, int64_t handle, int64_t a, int64_t b, int64_t c, const char *path1,
                 const char *path2) {
    pthread_mutex_lock(&pc_lock);
    emit_locked(type, handle, a, b, c, path1, path2, NULL, 0, 0);
    pthread_mutex_unlock(&pc_lock);
}

/* Records that the calling thread is about to make a change (see PC_INTENT). */
static void intent(uint32_t what, int64_t handle, int64_t a, int64_t b, const char *path1, const char *path2) {
    emit(PC_INTENT, handle, a, b, what, path1, path2);
}

static inline int64_t fd_handle(int fd) { return fd >= 0 && fd < PC_MAX_FD ? pc_fds[fd].handle : 0; }

/* Makes `path` (relative to dirfd) absolute and normalized into `out`. Returns 0 on success. */
static int absolute(int dirfd, const char *path, char *out) {
    if (!path) return -1;
    if (path[0] == '/') {
        if (strlen(path) >= PATH_MAX) return -1;
        strcpy(out, path);
    } else {
        char base[PATH_MAX];
        if (dirfd == AT_FDCWD) {
            if (!getcwd(base, sizeof base)) return -1;
        } else {
            char link[64];
            snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
            long n = syscall(SYS_readlinkat, AT_FDCWD, link, base, sizeof base - 1);
            if (n < 0) return -1;
            base[n] = '\0';
        }
        size_t lb = strlen(base), lp = strlen(path);
        if (lb + 1 + lp >= PATH_MAX) return -1;
        memcpy(out, base, lb);
        out[lb] = '/';
        memcpy(out + lb + 1, path, lp + 1);
    }
    normalize(out);
    return 0;
}

/* If `abs` is the watched directory or below it, writes its path relative to it ("." for the
 * directory itself) into `rel` and returns 1. */
static int relative(const char *abs, char *rel) {
    const char *roots[2] = {pc_dir, pc_dir_real};
    size_t lens[2] = {pc_dir_len, pc_dir_real_len};
    for (int i = 0; i < 2; i++) {
        if (i == 1 && lens[1] == 0) break;
        size_t n = lens[i];
        if (strncmp(abs, roots[i], n) == 0 && (abs[n] == '\0' || abs[n] == '/')) {
            const char *tail = abs + n;
            while (*tail == '/') tail++;
            strcpy(rel, *tail ? tail : ".");
            return 1;
        }
    }
    return 0;
}

/* The watched relative path of (dirfd, path), or 0 if it is not watched. */
static int watched_path(int dirfd, const char *path, char *rel) {
    char abs[PATH_MAX];
    if (absolute(dirfd, path, abs) != 0) return 0;
    return relative(abs, rel);
}

/* Whether (dirfd, path) exists (without following a final symlink). */
static int exists_at(int dirfd, const char *path) {
    struct stat st;
    return syscall(SYS_newfstatat, dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* ---- descriptor bookkeeping ------------------------------------------------------------------ */

/* The handle of `fd` if it still is the file it was opened as; 0 otherwise (and forgets it). */
static int64_t handle_of(int fd) {
    if (!watched_fd(fd)) return 0;
    struct stat st;
    if (raw_fstat(fd, &st) != 0) return 0;
    pthread_mutex_lock(&pc_lock);
    int64_t h = pc_fds[fd].handle;
    if (h && (pc_fds[fd].dev != st.st_dev || pc_fds[fd].ino != st.st_ino)) {
        pc_fds[fd].handle = 0;
        h = 0;
    }
    pthread_mutex_unlock(&pc_lock);
    return h;
}

static void after_open(int fd, int flags, int created, const char *rel) {
    if (fd < 0) return;
    struct stat st;
    if (raw_fstat(fd, &st) != 0) return;
    pthread_mutex_lock(&pc_lock);
    if (fd < PC_MAX_FD) {
        int64_t h = pc_next_handle++;
        pc_fds[fd].handle = h;
        pc_fds[fd].dev = st.st_dev;
        pc_fds[fd].ino = st.st_ino;
        pc_fds[fd].is_dir = S_ISDIR(st.st_mode);
        emit_locked(PC_OPEN, h, flags, created, S_ISDIR(st.st_mode), rel, NULL, NULL, 0, 0);
    } else {
        emit_locked(PC_UNSUPPORTED, 0, fd, 0, 0, rel, "descriptor number too high to track", NULL, 0, 0);
    }
    pthread_mutex_unlock(&pc_lock);
}

static void after_dup(int oldfd, int newfd) {
    if (newfd < 0) return;
    pthread_mutex_lock(&pc_lock);
    if (newfd < PC_MAX_FD) {
        if (oldfd >= 0 && oldfd < PC_MAX_FD && pc_fds[oldfd].handle) {
            pc_fds[newfd] = pc_fds[oldfd];
            emit_locked(PC_DUP, pc_fds[oldfd].handle, oldfd, newfd, 0, NULL, NULL, NULL, 0, 0);
        } else {
            pc_fds[newfd].handle = 0;
        }
    }
    pthread_mutex_unlock(&pc_lock);
}

/* Common open path. `call` performs the real open. */
static int do_open(int dirfd, const char *path, int flags, mode_t mode, int has_mode,
                   int (*call)(int, const char *, int, mode_t, int, void *), void *ctx) {
    char rel[PATH_MAX];
    if (!active() || !watched_path(dirfd, path, rel)) return call(dirfd, path, flags, mode, has_mode, ctx);
    pc_busy = 1;
    int existed = (flags & O_CREAT) ? exists_at(dirfd, path) : 1;
    if (!existed || (flags & O_TRUNC)) intent(PC_OPEN, 0, 0, 0, rel, NULL);
    int fd = call(dirfd, path, flags, mode, has_mode, ctx);
    int saved = errno;
    if (fd >= 0) after_open(fd, flags, !existed, rel);
    pc_busy = 0;
    errno = saved;
    return fd;
}

/* ---- open family ----------------------------------------------------------------------------- */

static int needs_mode(int flags) { return (flags & O_CREAT) || ((flags & O_TMPFILE) == O_TMPFILE); }

struct open_ctx { void *fn; int kind; };
/* kind: 0 open(path,flags,mode) 1 openat(dirfd,...) 2 __open_2(path,flags) 3 __openat_2(dirfd,path,flags) */
static int call_open(int dirfd, const char *path, int flags, mode_t mode, int has_mode, void *vctx) {
    struct open_ctx *ctx = vctx;
    switch (ctx->kind) {
    case 0: return has_mode ? ((int (*)(const char *, int, ...))ctx->fn)(path, flags, mode)
                            : ((int (*)(const char *, int, ...))ctx->fn)(path, flags);
    case 1: return has_mode ? ((int (*)(int, const char *, int, ...))ctx->fn)(dirfd, path, flags, mode)
                            : ((int (*)(int, const char *, int, ...))ctx->fn)(dirfd, path, flags);
    case 2: return ((int (*)(const char *, int))ctx->fn)(path, flags);
    default: return ((int (*)(int, const char *, int))ctx->fn)(dirfd, path, flags);
    }
}

#define OPEN_HOOK(name)                                                                        \
    int name(const char *path, int flags, ...) {                                               \
        mode_t mode = 0;                                                                       \
        int has_mode = needs_mode(flags);                                                      \
        if (has_mode) { va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); } \
        if (!pc_ready) init();                                                                 \
        struct open_ctx ctx = {(void *)real_##name, 0};                                        \
        return do_open(AT_FDCWD, path, flags, mode, has_mode, call_open, &ctx);                \
    }
OPEN_HOOK(open)
OPEN_HOOK(open64)

#define OPENAT_HOOK(name)                                                                      \
    int name(int dirfd, const char *path, int flags, ...) {                                    \
        mode_t mode = 0;                                                                       \
        int has_mode = needs_mode(flags);                                                      \
        if (has_mode) { va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); } \
        if (!pc_ready) init();                                                                 \
        struct open_ctx ctx = {(void *)real_##name, 1};                                        \
        return do_open(dirfd, path, flags, mode, has_mode, call_open, &ctx);                   \
    }
OPENAT_HOOK(openat)
OPENAT_HOOK(openat64)

int __open_2(const char *path, int flags) {
    if (!pc_ready) init();
    struct open_ctx ctx = {(void *)real___open_2, 2};
    return do_open(AT_FDCWD, path, flags, 0, 0, call_open, &ctx);
}
int __open64_2(const char *path, int flags) {
    if (!pc_ready) init();
    struct open_ctx ctx = {(void *)real___open64_2, 2};
    return do_open(AT_FDCWD, path, flags, 0, 0, call_open, &ctx);
}
int __openat_2(int dirfd, const char *path, int flags) {
    if (!pc_ready) init();
    struct open_ctx ctx = {(void *)real___openat_2, 3};
    return do_open(dirfd, path, flags, 0, 0, call_open, &ctx);
}
int __openat64_2(int dirfd, const char *path, int flags) {
    if (!pc_ready) init();
    struct open_ctx ctx = {(void *)real___openat64_2, 3};
    return do_open(dirfd, path, flags, 0, 0, call_open, &ctx);
}

static int call_creat(int dirfd, const char *path, int flags, mode_t mode, int has_mode, void *fn) {
    (void)dirfd; (void)flags; (void)has_mode;
    return ((int (*)(const char *, mode_t))fn)(path, mode);
}
int creat(const char *path, mode_t mode) {
    if (!pc_ready) init();
    return do_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, 1, call_creat, (void *)real_creat);
}
int creat64(const char *path, mode_t mode) {
    if (!pc_ready) init();
    return do_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, 1, call_creat, (void *)real_creat64);
}

int close(int fd) {
    if (!pc_ready) init();
    if (!watched_fd(fd) || pc_log_fd < 0) {
        if (fd == pc_log_fd && fd >= 0) { errno = EBADF; return -1; } /* keep our log open */
        return real_close(fd);
    }
    int64_t h = pc_fds[fd].handle;
    int r = real_close(fd);
    int saved = errno;
    pthread_mutex_lock(&pc_lock);
    if (pc_fds[fd].handle == h) pc_fds[fd].handle = 0;
    emit_locked(PC_CLOSE, h, fd, 0, r == 0 ? 0 : saved, NULL, NULL, NULL, 0, 0);
    pthread_mutex_unlock(&pc_lock);
    errno = saved;
    return r;
}

int dup(int fd) {
    if (!pc_ready) init();
    int r = real_dup(fd);
    int saved = errno;
    if (r >= 0 && r < PC_MAX_FD && (watched_fd(fd) || watched_fd(r))) after_dup(fd, r);
    errno = saved;
    return r;
}
int dup2(int fd, int fd2) {
    if (!pc_ready) init();
    if (fd2 == pc_log_fd && pc_log_fd >= 0) { errno = EBADF; return -1; }
    int r = real_dup2(fd, fd2);
    int saved = errno;
    if (r >= 0 && r < PC_MAX_FD && (watched_fd(fd) || watched_fd(r))) after_dup(fd, r);
    errno = saved;
    return r;
}
int dup3(int fd, int fd2, int flags) {
    if (!pc_ready) init();
    if (fd2 == pc_log_fd && pc_log_fd >= 0) { errno = EBADF; return -1; }
    int r = real_dup3(fd, fd2, flags);
    int saved = errno;
    if (r >= 0 && r < PC_MAX_FD && (watched_fd(fd) || watched_fd(r))) after_dup(fd, r);
    errno = saved;
    return r;
}

static int fcntl_common(int (*fn)(int, int, ...), int fd, int cmd, va_list ap) {
    /* Every fcntl command takes at most one argument, an int or a pointer: pass a pointer-sized
     * value through (as glibc itself does). */
    void *arg = va_arg(ap, void *);
    int r = fn(fd, cmd, arg);
    if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && r >= 0 && watched_fd(fd)) {
        int saved = errno;
        after_dup(fd, r);
        errno = saved;
    }
    return r;
}
int fcntl(int fd, int cmd, ...) {
    if (!pc_ready) init();
    va_list ap; va_start(ap, cmd);
    int r = fcntl_common(real_fcntl, fd, cmd, ap);
    va_end(ap);
    return r;
}
int fcntl64(int fd, int cmd, ...) {
    if (!pc_ready) init();
    va_list ap; va_start(ap, cmd);
    int r = fcntl_common(real_fcntl64 ? real_fcntl64 : real_fcntl, fd, cmd, ap);
    va_end(ap);
    return r;
}

/* ---- writes ---------------------------------------------------------------------------------- */

static void log_write(int fd, off_t offset, const struct iovec *iov, int iovcnt, size_t n) {
    int64_t h = handle_of(fd);
    if (!h) return;
    pthread_mutex_lock(&pc_lock);
    emit_locked(PC_WRITE, h, offset, (int64_t)n, 0, NULL, NULL, iov, iovcnt, n);
    pthread_mutex_unlock(&pc_lock);
}

/* Offset of a write at the descriptor's position: before the call (or, with O_APPEND, its end
 * after the call minus what was written). */
static int is_append(int fd) {
    long fl = syscall(SYS_fcntl, fd, F_GETFL);
    return fl >= 0 && (fl & O_APPEND);
}

ssize_t write(int fd, const void *buf, size_t count) {
    if (!pc_ready) init();
    if (!watched_fd(fd) || !active()) return real_write(fd, buf, count);
    int append = is_append(fd);
    off_t before = append ? 0 : (off_t)syscall(SYS_lseek, fd, 0, SEEK_CUR);
    intent(PC_WRITE, fd_handle(fd), append ? -1 : before, (int64_t)count, NULL, NULL);
    ssize_t r = real_write(fd, buf, count);
    int saved = errno;
    if (r > 0) {
        off_t at = append ? (off_t)syscall(SYS_lseek, fd, 0, SEEK_CUR) - r : before;
        struct iovec v = {(void *)buf, (size_t)r};
        log_write(fd, at, &v, 1, (size_t)r);
    }
    errno = saved;
    return r;
}

#define PWRITE_HOOK(name)                                                                      \
    ssize_t name(int fd, const void *buf, size_t count, off_t offset) {                        \
        if (!pc_ready) init();                                                                 \
        if (!watched_fd(fd) || !active()) return real_##name(fd, buf, count, offset);          \
        intent(PC_WRITE, fd_handle(fd), offset, (int64_t)count, NULL, NULL);                   \
        ssize_t r = real_##name(fd, buf, count, offset);                                       \
        int saved = errno;                                                                     \
        if (r > 0) {                                                                           \
            /* Linux: pwrite on an O_APPEND descriptor appends (the offset is ignored). */      \
            off_t at = is_append(fd) ? (off_t)syscall(SYS_lseek, fd, 0, SEEK_END) - r : offset; \
            struct iovec v = {(void *)buf, (size_t)r};                                         \
            log_write(fd, at, &v, 1, (size_t)r);                                               \
        }                                                                                      \
        errno = saved;                                                                         \
        return r;                                                                              \
    }
PWRITE_HOOK(pwrite)
PWRITE_HOOK(pwrite64)

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
    if (!pc_ready) init();
    if (!watched_fd(fd) || !active()) return real_writev(fd, iov, iovcnt);
    int append = is_append(fd);
    off_t before = append ? 0 : (off_t)syscall(SYS_lseek, fd, 0, SEEK_CUR);
    intent(PC_WRITE, fd_handle(fd), append ? -1 : before, -1, NULL, NULL);
    ssize_t r = real_writev(fd, iov, iovcnt);
    int saved = errno;
    if (r > 0) {
        off_t at = append ? (off_t)syscall(SYS_lseek, fd, 0, SEEK_CUR) - r : before;
        log_write(fd, at, iov, iovcnt, (size_t)r);
    }
    errno = saved;
    return r;
}

#define PWRITEV_HOOK(name)                                                                     \
    ssize_t name(int fd, const struct iovec *iov, int iovcnt, off_t offset) {                  \
        if (!pc_ready) init();                                                                 \
        if (!watched_fd(fd) || !active()) return real_##name(fd, iov, iovcnt, offset);         \
        intent(PC_WRITE, fd_handle(fd), offset, -1, NULL, NULL);                               \
        ssize_t r = real_##name(fd, iov, iovcnt, offset);                                      \
        int saved = errno;                                                                     \
        if (r > 0) {                                                                           \
            off_t at = is_append(fd) ? (off_t)syscall(SYS_lseek, fd, 0, SEEK_END) - r : offset; \
            log_write(fd, at, iov, iovcnt, (size_t)r);                                         \
        }                                                                                      \
        errno = saved;                                                                         \
        return r;                                                                              \
    }
PWRITEV_HOOK(pwritev)
PWRITEV_HOOK(pwritev64)

#ifndef RWF_APPEND
#define RWF_APPEND 0x10
#endif
#define PWRITEV2_HOOK(name)                                                                    \
    ssize_t name(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags) {       \
        if (!pc_ready) init();                                                                 \
        if (!watched_fd(fd) || !active()) return real_##name(fd, iov, iovcnt, offset, flags);  \
        int at_position = offset == -1;                                                        \
        int append = is_append(fd) || (flags & RWF_APPEND);                                    \
        off_t before = at_position && !append ? (off_t)syscall(SYS_lseek, fd, 0, SEEK_CUR) : offset; \
        intent(PC_WRITE, fd_handle(fd), append ? -1 : before, -1, NULL, NULL);                 \
        ssize_t r = real_##name(fd, iov, iovcnt, offset, flags);                               \
        int saved = errno;                                                                     \
        if (r > 0) {                                                                           \
            off_t at = before;                                                                 \
            if (append) at = (off_t)syscall(SYS_lseek, fd, 0, at_position ? SEEK_CUR : SEEK_END) - r; \
            log_write(fd, at, iov, iovcnt, (size_t)r);                                         \
        }                                                                                      \
        errno = saved;                                                                         \
        return r;                                                                              \
    }
PWRITEV2_HOOK(pwritev2)
PWRITEV2_HOOK(pwritev64v2)

/* ---- size changes ---------------------------------------------------------------------------- */

#define FTRUNCATE_HOOK(name)                                                                   \
    int name(int fd, off_t length) {                                                           \
        if (!pc_ready) init();                                                                 \
        if (!watched_fd(fd) || !active()) return real_##name(fd, length);                      \
        intent(PC_TRUNCATE, fd_handle(fd), length, 0, NULL, NULL);                             \
        int r = real_##name(fd, length);                                                       \
        int saved = errno;                                                                     \
        if (r == 0) {                                                                          \
            int64_t h = handle_of(fd);                                                         \
            if (h) emit(PC_TRUNCATE, h, length, 0, 0, NULL, NULL);                             \
        }                                                                                      \
        errno = saved;                                                                         \
        return r;                                                                              \
    }
FTRUNCATE_HOOK(ftruncate)
FTRUNCATE_HOOK(ftruncate64)

#define TRUNCATE_HOOK(name)                                                                    \
    int name(const char *path, off_t length) {                                                 \
        if (!pc_ready) init();                                                                 \
        char rel[PATH_MAX];                                                                    \
        if (!active() || !watched_path(AT_FDCWD, path, rel)) return real_##name(path, length); \
        intent(PC_TRUNCATE_PATH, 0, length, 0, rel, NULL);                                     \
        int r = real_##name(path, length);                                                     \
        int saved = errno;                                                                     \
        if (r == 0) emit(PC_TRUNCATE_PATH, 0, length, 0, 0, rel, NULL);                        \
        errno = saved;                                                                         \
        return r;                                                                              \
    }
TRUNCATE_HOOK(truncate)
TRUNCATE_HOOK(truncate64)

#define FALLOCATE_HOOK(name)                                                                   \
    int name(int fd, int mode, off_t offset, off_t len) {                                      \
        if (!pc_ready) init();                                                                 \
        if (!watched_fd(fd) || !active()) return real_##name(fd, mode, offset, len);           \
        intent(PC_FALLOCATE, fd_handle(fd), offset, len, NULL, NULL);                          \
        int r = real_##name(fd, mode, offset, len);                                            \
        int saved = errno;                                                                     \
        if (r == 0) {                                                                          \
            int64_t h = handle_of(fd);                                                         \
            if (h) emit(PC_FALLOCATE, h, offset, len, mode, NULL, NULL);                       \
        }                                                                                      \
        errno = saved;                                                                         \
        return r;                                                                              \
    }
FALLOCATE_HOOK(fallocate)
FALLOCATE_HOOK(fallocate64)

/* posix_fallocate returns the error number (errno is not set); mode 0 semantics. */
#define POSIX_FALLOCATE_HOOK(name)                                                             \
    int name(int fd, off_t offset, off_t len) {                                                \
        if (!pc_ready) init();                                                                 \
        if (!watched_fd(fd) || !active()) return real_##name(fd, offset, len);                 \
        intent(PC_FALLOCATE, fd_handle(fd), offset, len, NULL, NULL);                          \
        int r = real_##name(fd, offset, len);                                                  \
        if (r == 0) {                                                                          \
            int64_t h = handle_of(fd);                                                         \
            if (h) emit(PC_FALLOCATE, h, offset, len, 0, NULL, NULL);                          \
        }                                                                                      \
        return r;                                                                              \
    }
POSIX_FALLOCATE_HOOK(posix_fallocate)
POSIX_FALLOCATE_HOOK(posix_fallocate64)

/* ---- syncs ----------------------------------------------------------------------------------- */

static int do_sync(int fd, int kind, int (*fn)(int)) {
    if (!pc_ready) init();
    if (!watched_fd(fd) || !active()) return fn(fd);
    int64_t h = handle_of(fd);
    if (!h) return fn(fd);
    pthread_mutex_lock(&pc_lock);
    int64_t id = pc_next_sync++;
    emit_locked(PC_SYNC_BEGIN, h, id, kind, 0, NULL, NULL, NULL, 0, 0);
    pthread_mutex_unlock(&pc_lock);
    int r = fn(fd);
    int saved = errno;
    emit(PC_SYNC_END, h, id, kind, r == 0 ? 0 : saved, NULL, NULL);
    errno = saved;
    return r;
}
int fsync(int fd) { return do_sync(fd, 0, real_fsync); }
int fdatasync(int fd) { return do_sync(fd, 1, real_fdatasync); }

int sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags) {
    if (!pc_ready) init();
    if (!watched_fd(fd) || !active()) return real_sync_file_range(fd, offset, nbytes, flags);
    int r = real_sync_file_range(fd, offset, nbytes, flags);
    int saved = errno;
    int64_t h = handle_of(fd);
    if (h) emit(PC_SYNC_RANGE, h, offset, nbytes, flags, NULL, NULL);
    errno = saved;
    return r;
}

void sync(void) {
    if (!pc_ready) init();
    if (!active()) { real_sync(); return; }
    pthread_mutex_lock(&pc_lock);
    int64_t id = pc_next_sync++;
    emit_locked(PC_SYNCALL_BEGIN, 0, id, 0, 0, NULL, NULL, NULL, 0, 0);
    pthread_mutex_unlock(&pc_lock);
    real_sync();
    emit(PC_SYNCALL_END, 0, id, 0, 0, NULL, NULL);
}

int syncfs(int fd) {
    if (!pc_ready) init();
    if (!active()) return real_syncfs(fd);
    pthread_mutex_lock(&pc_lock);
    int64_t id = pc_next_sync++;
    emit_locked(PC_SYNCALL_BEGIN, 0, id, 1, 0, NULL, NULL, NULL, 0, 0);
    pthread_mutex_unlock(&pc_lock);
    int r = real_syncfs(fd);
    int saved = errno;
    emit(PC_SYNCALL_END, 0, id, 1, r == 0 ? 0 : saved, NULL, NULL);
    errno = saved;
    return r;
}

/* ---- directory entries ----------------------------------------------------------------------- */

static int do_unlink(int dirfd, const char *path, int is_dir, int (*call)(int, const char *, int, void *), int flags,
                     void *fn) {
    char rel[PATH_MAX];
    if (!active() || !watched_path(dirfd, path, rel)) return call(dirfd, path, flags, fn);
    intent(PC_UNLINK, 0, 0, 0, rel, NULL);
    int r = call(dirfd, path, flags, fn);
    int saved = errno;
    if (r == 0) emit(PC_UNLINK, 0, 0, 0, is_dir, rel, NULL);
    errno = saved;
    return r;
}
static int call_unlink(int dirfd, const char *path, int flags, void *fn) {
    (void)dirfd; (void)flags;
    return ((int (*)(const char *))fn)(path);
}
static int call_unlinkat(int dirfd, const char *path, int flags, void *fn) {
    return ((int (*)(int, const char *, int))fn)(dirfd, path, flags);
}
int unlink(const char *path) {
    if (!pc_ready) init();
    return do_unlink(AT_FDCWD, path, 0, call_unlink, 0, (void *)real_unlink);
}
int rmdir(const char *path) {
    if (!pc_ready) init();
    return do_unlink(AT_FDCWD, path, 1, call_unlink, 0, (void *)real_rmdir);
}
int unlinkat(int dirfd, const char *path, int flags) {
    if (!pc_ready) init();
    return do_unlink(dirfd, path, (flags & AT_REMOVEDIR) != 0, call_unlinkat, flags, (void *)real_unlinkat);
}

static int do_rename(int olddir, const char *oldpath, int newdir, const char *newpath, unsigned int flags, int kind) {
    char rel1[PATH_MAX], rel2[PATH_MAX];
    int w1 = 0, w2 = 0;
    if (active()) {
        w1 = watched_path(olddir, oldpath, rel1);
        w2 = watched_path(newdir, newpath, rel2);
    }
    if (w1 || w2) intent(PC_RENAME, 0, 0, 0, w1 ? rel1 : NULL, w2 ? rel2 : NULL);
    int r;
    if (kind == 0) r = real_rename(oldpath, newpath);
    else if (kind == 1) r = real_renameat(olddir, oldpath, newdir, newpath);
    else r = real_renameat2(olddir, oldpath, newdir, newpath, flags);
    int saved = errno;
    if (r == 0 && (w1 || w2)) {
        if (w1 && w2) emit(PC_RENAME, 0, 0, 0, flags, rel1, rel2);
        else emit(PC_UNSUPPORTED, 0, 0, 0, 0, w1 ? rel1 : rel2, "rename across the watched directory's boundary");
    }
    errno = saved;
    return r;
}
int rename(const char *oldpath, const char *newpath) {
    if (!pc_ready) init();
    return do_rename(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0, 0);
}
int renameat(int olddir, const char *oldpath, int newdir, const char *newpath) {
    if (!pc_ready) init();
    return do_rename(olddir, oldpath, newdir, newpath, 0, 1);
}
int renameat2(int olddir, const char *oldpath, int newdir, const char *newpath, unsigned int flags) {
    if (!pc_ready) init();
    return do_rename(olddir, oldpath, newdir, newpath, flags, 2);
}

int mkdir(const char *path, mode_t mode) {
    if (!pc_ready) init();
    char rel[PATH_MAX];
    if (!active() || !watched_path(AT_FDCWD, path, rel)) return real_mkdir(path, mode);
    intent(PC_MKDIR, 0, 0, 0, rel, NULL);
    int r = real_mkdir(path, mode);
    int saved = errno;
    if (r == 0) emit(PC_MKDIR, 0, 0, 0, 0, rel, NULL);
    errno = saved;
    return r;
}
int mkdirat(int dirfd, const char *path, mode_t mode) {
    if (!pc_ready) init();
    char rel[PATH_MAX];
    if (!active() || !watched_path(dirfd, path, rel)) return real_mkdirat(dirfd, path, mode);
    intent(PC_MKDIR, 0, 0, 0, rel, NULL);
    int r = real_mkdirat(dirfd, path, mode);
    int saved = errno;
    if (r == 0) emit(PC_MKDIR, 0, 0, 0, 0, rel, NULL);
    errno = saved;
    return r;
}

/* ---- not modelled: reported so that the reconstruction can refuse or warn -------------------- */

int link(const char *oldpath, const char *newpath) {
    if (!pc_ready) init();
    char rel[PATH_MAX];
    int r = real_link(oldpath, newpath);
    int saved = errno;
    if (r == 0 && active() && watched_path(AT_FDCWD, newpath, rel)) emit(PC_UNSUPPORTED, 0, 0, 0, 0, rel, "link");
    errno = saved;
    return r;
}
int linkat(int olddir, const char *oldpath, int newdir, const char *newpath, int flags) {
    if (!pc_ready) init();
    char rel[PATH_MAX];
    int r = real_linkat(olddir, oldpath, newdir, newpath, flags);
    int saved = errno;
    if (r == 0 && active() && watched_path(newdir, newpath, rel)) emit(PC_UNSUPPORTED, 0, 0, 0, 0, rel, "linkat");
    errno = saved;
    return r;
}

#define MMAP_HOOK(name)                                                                        \
    void *name(void *addr, size_t length, int prot, int flags, int fd, off_t offset) {         \
        if (!pc_ready) init();                                                                 \
        void *r = real_##name(addr, length, prot, flags, fd, offset);                          \
        if (r != MAP_FAILED && (prot & PROT_WRITE) && (flags & MAP_SHARED) && watched_fd(fd) && active()) { \
            int saved = errno;                                                                 \
            int64_t h = handle_of(fd);                                                         \
            if (h) emit(PC_UNSUPPORTED, h, offset, (int64_t)length, 0, NULL, "mmap-shared-write"); \
            errno = saved;                                                                     \
        }                                                                                      \
        return r;                                                                              \
    }
MMAP_HOOK(mmap)
MMAP_HOOK(mmap64)

ssize_t copy_file_range(int in, off_t *in_off, int out, off_t *out_off, size_t len, unsigned int flags) {
    if (!pc_ready) init();
    ssize_t r = real_copy_file_range(in, in_off, out, out_off, len, flags);
    int saved = errno;
    if (r > 0 && watched_fd(out) && active()) {
        int64_t h = handle_of(out);
        if (h) emit(PC_UNSUPPORTED, h, 0, r, 0, NULL, "copy_file_range");
    }
    errno = saved;
    return r;
}
#define SENDFILE_HOOK(name)                                                                    \
    ssize_t name(int out, int in, off_t *offset, size_t count) {                               \
        if (!pc_ready) init();                                                                 \
        ssize_t r = real_##name(out, in, offset, count);                                       \
        int saved = errno;                                                                     \
        if (r > 0 && watched_fd(out) && active()) {                                            \
            int64_t h = handle_of(out);                                                        \
            if (h) emit(PC_UNSUPPORTED, h, 0, r, 0, NULL, "sendfile");                         \
        }                                                                                      \
        errno = saved;                                                                         \
        return r;                                                                              \
    }
SENDFILE_HOOK(sendfile)
SENDFILE_HOOK(sendfile64)

/* ---- start-up -------------------------------------------------------------------------------- */

__attribute__((constructor)) static void powercut_start(void) {
    init();
    if (pc_log_fd >= 0) {
        char exe[PATH_MAX];
        long n = syscall(SYS_readlinkat, AT_FDCWD, "/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        emit(PC_START, 0, getpid(), 0, 0, pc_dir, exe);
    }
}
