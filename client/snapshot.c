/* SPDX-License-Identifier: Apache-2.0 OR MIT */

/*
 * Snapshots: through safe-mmapd when one answers, else made here as a sealed
 * memfd. Whatever the daemon sends back is verified exactly as a descriptor
 * from anywhere else would be.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "macro.h"
#include "memfd-util.h"
#include "missing.h"
#include "parse-size.h"
#include "transport.h"

#define SNAPSHOT_FLAGS_ALL (SAFE_MMAP_POPULATE | SAFE_MMAP_NO_DAEMON | SAFE_MMAP_NO_FALLBACK)
/* A file that changes during every one of this many copies is given up on (-EAGAIN). */
#define SNAPSHOT_ATTEMPTS 3

int snapshot_local_size_max(uint64_t *ret) {
        const char *e;

        /* secure_getenv: a set-uid program must not let its caller raise the limit. */
        e = secure_getenv("SAFE_MMAP_SIZE_MAX");
        if (!e || !*e) {
                *ret = SAFE_MMAP_LOCAL_SIZE_MAX;
                return 0;
        }
        /* The daemon's syntax; a value that does not parse is a mistake to report, not to ignore. */
        return parse_size(e, ret) < 0 ? -EINVAL : 0;
}

int snapshot_check_source(int fd) {
        struct stat st;
        int fl;

        if (fd < 0)
                return -EBADF;
        fl = fcntl(fd, F_GETFL);
        if (fl < 0 || (fl & O_PATH) || (fl & O_ACCMODE) == O_WRONLY)
                return -EBADF;
        if (fstat(fd, &st) < 0)
                return -EBADF;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        return 0;
}

/* What tells us that a file changed: a writer moves at least one of these. */
struct version {
        uint64_t ino, size;
        int64_t mtime_sec, ctime_sec;
        uint32_t dev_major, dev_minor, mtime_nsec, ctime_nsec;
};

static int version_get(int fd, struct version *ret) {
        struct statx stx;

        if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS, &stx) < 0)
                return errno == ENOMEM ? -ENOMEM : -EIO;
        *ret = (struct version) {
                .ino = stx.stx_ino,
                .size = stx.stx_size,
                .mtime_sec = stx.stx_mtime.tv_sec,
                .mtime_nsec = stx.stx_mtime.tv_nsec,
                .ctime_sec = stx.stx_ctime.tv_sec,
                .ctime_nsec = stx.stx_ctime.tv_nsec,
                .dev_major = stx.stx_dev_major,
                .dev_minor = stx.stx_dev_minor,
        };
        return 0;
}

static bool version_equal(const struct version *a, const struct version *b) {
        return memcmp(a, b, sizeof(*a)) == 0;
}

/* The shared helpers return the kernel's errno; the library promises a documented few. */
static int snapshot_errno(int r) {
        switch (r) {
        case -EMFILE:
        case -ENFILE:
        case -ENOMEM:
        case -ENOSPC:
        case -EFBIG:
                return r;
        default:
                return -EIO;
        }
}

/*
 * A new open file description, read-only, of the same memfd: the caller gets
 * no write access it could try, and no file offset shared with anyone. Where
 * /proc is missing the sealed O_RDWR descriptor is still immutable.
 */
static int memfd_reopen(int fd) {
        int ro = fd_reopen_rdonly(fd);

        if (ro == -ENOENT)
                return fd;
        return ro < 0 ? snapshot_errno(ro) : ro;
}

int snapshot_local(int src, uint64_t max_size, int *ret_fd) {
        struct stat st;
        int r;

        r = snapshot_check_source(src);
        if (r < 0)
                return r;
        if (fstat(src, &st) < 0)
                return -EBADF;
        /* st_size is only a hint, but a file already over the limit need not be read to be refused. */
        if ((uint64_t) st.st_size > max_size)
                return -EFBIG;

        for (int attempt = 0; attempt < SNAPSHOT_ATTEMPTS; attempt++) {
                _cleanup_close_ int memfd = -EBADF;
                struct version before, after;
                uint64_t size;
                int ro;

                r = version_get(src, &before);
                if (r < 0)
                        return r;
                memfd = memfd_new_sealable("safe-mmap-local");
                if (memfd < 0)
                        return snapshot_errno(memfd);
                r = memfd_fill(src, memfd, max_size, &size);
                if (r < 0)
                        return snapshot_errno(r);
                r = version_get(src, &after);
                if (r < 0)
                        return r;
                if (!version_equal(&before, &after))
                        continue; /* torn: a writer changed the file while we copied */

                r = memfd_seal_immutable(memfd);
                if (r < 0)
                        return -EIO;
                ro = memfd_reopen(memfd);
                if (ro < 0)
                        return ro;
                *ret_fd = ro == memfd ? TAKE_FD(memfd) : ro;
                return 0;
        }
        return -EAGAIN;
}

/* Whether a failure means "no daemon is there" (so a local snapshot may stand in). */
static bool daemon_unreachable(int r) {
        return r == -ECONNRESET || r == -ETIMEDOUT || r == -ECONNREFUSED || r == -ENOENT ||
               r == -EACCES || r == -ENOTSOCK || r == -EPERM || r == -ENAMETOOLONG ||
               r == -ENOTDIR || r == -EPROTOTYPE || r == -EAGAIN;
}

/*
 * Asks safe-mmapd. Returns 0 with the verified descriptor, a negative errno
 * the daemon or the verification gave, and sets *ret_unreachable when the
 * daemon could not be reached at all.
 */
static int daemon_snapshot(int fd, const char *path, int *ret_fd, int *ret_kind, uint64_t *ret_size,
                           bool *ret_unreachable) {
        _cleanup_close_ int sock = -EBADF, snap = -EBADF;
        ProtoRequest req = {};
        ProtoReply reply;
        uint64_t size;
        int r, kind;

        *ret_unreachable = false;
        r = transport_connect(NULL, &sock);
        if (r < 0) {
                *ret_unreachable = daemon_unreachable(r);
                return r;
        }

        if (path) {
                req.type = PROTO_REQUEST_SNAPSHOT_PATH;
                req.path = path;
                req.path_length = (uint32_t) strlen(path);
        } else
                req.type = PROTO_REQUEST_SNAPSHOT_FD;

        r = transport_call(sock, &req, path ? -EBADF : fd, &reply, &snap);
        if (r < 0) {
                /* Closed or silent before answering: it died, or dropped us over a limit. */
                *ret_unreachable = r == -ECONNRESET || r == -ETIMEDOUT;
                return r;
        }
        if (reply.status < 0)
                return reply.status;

        /* Trust nothing the reply says: the descriptor must prove itself. */
        r = verify_fd(snap, &kind, &size);
        if (r < 0)
                return -EBADFD;
        if ((uint32_t) kind != reply.kind || size != reply.size)
                return -EPROTO;

        *ret_fd = TAKE_FD(snap);
        *ret_kind = kind;
        *ret_size = size;
        return 0;
}

static int snapshot_map(int src, const char *path, unsigned flags, safe_mmap **ret) {
        uint64_t size, limit;
        int r, kind, snap;

        /* Checked first, so that a bad value fails whether or not a daemon answers. */
        r = snapshot_local_size_max(&limit);
        if (r < 0)
                return r;

        if (!(flags & SAFE_MMAP_NO_DAEMON)) {
                bool unreachable;

                r = daemon_snapshot(src, path, &snap, &kind, &size, &unreachable);
                if (r >= 0)
                        return map_new(snap, kind, 0, size, flags & SAFE_MMAP_POPULATE, ret);
                /* A path request is made only after our own open was denied: no local copy possible. */
                if (src < 0 && unreachable)
                        return -EACCES;
                if (!unreachable || (flags & SAFE_MMAP_NO_FALLBACK))
                        return r;
        }

        r = snapshot_local(src, limit, &snap);
        if (r < 0)
                return r;
        r = verify_fd(snap, &kind, &size);
        if (r < 0) {
                safe_close(snap);
                return r;
        }
        return map_new(snap, kind, 0, size, flags & SAFE_MMAP_POPULATE, ret);
}

static int snapshot_flags_valid(unsigned flags) {
        if (flags & ~SNAPSHOT_FLAGS_ALL)
                return false;
        /* Neither the daemon nor a local copy: nothing could be done. */
        return (flags & (SAFE_MMAP_NO_DAEMON | SAFE_MMAP_NO_FALLBACK)) !=
               (SAFE_MMAP_NO_DAEMON | SAFE_MMAP_NO_FALLBACK);
}

_public_ int safe_mmap_snapshot_fd(int fd, unsigned flags, safe_mmap **ret) {
        int r;

        if (!ret || !snapshot_flags_valid(flags))
                return -EINVAL;
        r = snapshot_check_source(fd);
        if (r < 0)
                return r;
        return snapshot_map(fd, NULL, flags, ret);
}

/* The daemon resolves paths from its grant roots: it needs an absolute one. */
static int path_make_absolute(const char *path, char **ret) {
        char cwd[PATH_MAX];
        char *abs;

        if (path[0] == '/') {
                abs = strdup(path);
        } else {
                if (!getcwd(cwd, sizeof(cwd)))
                        return -ENAMETOOLONG;
                if (asprintf(&abs, "%s/%s", cwd, path) < 0)
                        abs = NULL;
        }
        if (!abs)
                return -ENOMEM;
        if (strlen(abs) > PROTO_PATH_MAX) {
                free(abs);
                return -ENAMETOOLONG;
        }
        *ret = abs;
        return 0;
}

/*
 * Opens @path for reading without side effects on anything but a regular
 * file: O_PATH first (opens nothing for real, never blocks on a FIFO, never
 * rewinds a tape), the type checked, then a real open of that very inode.
 */
static int snapshot_open(const char *path, int *ret_fd) {
        _cleanup_close_ int pfd = -EBADF;
        char proc[sizeof("/proc/self/fd/") + 12];
        struct stat st;
        int fd;

        pfd = open(path, O_PATH | O_CLOEXEC);
        if (pfd < 0)
                return -errno;
        if (fstat(pfd, &st) < 0)
                return -EIO;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;

        (void) snprintf(proc, sizeof(proc), "/proc/self/fd/%i", pfd);
        fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 && errno == ENOENT) /* no /proc: a real open, still never blocking */
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

_public_ int safe_mmap_snapshot(const char *path, unsigned flags, safe_mmap **ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *abs = NULL;
        int r;

        if (!path || !*path || !ret || !snapshot_flags_valid(flags))
                return -EINVAL;

        r = snapshot_open(path, &fd);
        if (r >= 0)
                return snapshot_map(fd, NULL, flags, ret);
        if ((r != -EACCES && r != -EPERM) || (flags & SAFE_MMAP_NO_DAEMON))
                return r;

        /* Our own open was denied: the daemon may hold a grant for us. */
        if (path_make_absolute(path, &abs) < 0)
                return r;
        return snapshot_map(-EBADF, abs, flags, ret);
}
