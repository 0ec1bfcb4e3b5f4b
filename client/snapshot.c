/* SPDX-License-Identifier: Apache-2.0 OR MIT */

/*
 * Snapshots: through safe-mmapd when one answers, else made here as a sealed
 * memfd. Whatever the daemon sends back is verified exactly as a descriptor
 * from anywhere else would be.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "fd-util.h"
#include "file-version.h"
#include "fs-util.h"
#include "internal.h"
#include "macro.h"
#include "memfd-util.h"
#include "missing.h"
#include "parse-size.h"
#include "transport.h"

#define SNAPSHOT_FLAGS_ALL \
        (SAFE_MMAP_POPULATE | SAFE_MMAP_NO_DAEMON | SAFE_MMAP_NO_FALLBACK | SAFE_MMAP_REQUIRE_CONSISTENT)
/*
 * A file that changes during every one of this many copies is given up on
 * (-EAGAIN); so is a file of which this many daemon answers in a row were not
 * proven consistent when the caller requires it.
 */
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

/* Only a regular file can be copied: -EISDIR for a directory, -EINVAL for anything else; @error if fstat() fails. */
static int snapshot_source_type(int fd, int error) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return error;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        return 0;
}

int snapshot_check_source(int fd) {
        if (fd_check_readable(fd) < 0)
                return -EBADF;
        return snapshot_source_type(fd, -EBADF);
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

/*
 * A read lease on a description of our own proves that nobody had the file
 * open for writing when it was granted, and it is broken the moment somebody
 * opens it for writing or truncates it: held from before the copy until after
 * it, no writer touched the file meanwhile (statx alone proves nothing: a
 * write that began before the first statx already moved mtime). The kernel
 * signals a lease break to the process, with SIGIO by default, whose default
 * action kills it; a library must not install handlers, so the signal is made
 * SIGURG (ignored unless the program handles it) before the lease exists, and
 * nobody is to be signalled at all from right after it is granted: whether it
 * was broken is asked with F_GETLEASE instead.
 */
static int lease_take(int src) {
        int fd, r;

        fd = fd_reopen_rdonly(src);
        if (fd < 0)
                return fd;
        if (fcntl(fd, F_SETSIG, SIGURG) < 0 || fcntl(fd, F_SETLEASE, F_RDLCK) < 0) {
                /* EAGAIN: somebody has the file open for writing; EACCES: not ours, no CAP_LEASE. */
                r = negative_errno();
                safe_close(fd);
                return r;
        }
        (void) fcntl(fd, F_SETOWN, 0);
        return fd;
}

/* Whether the lease is still held, not broken; releases it and closes its descriptor. */
static bool lease_release(int fd) {
        bool held;

        if (fd < 0)
                return false;
        /* While a lease is being broken, F_GETLEASE reports the type it is broken to. */
        held = fcntl(fd, F_GETLEASE) == F_RDLCK;
        (void) fcntl(fd, F_SETLEASE, F_UNLCK);
        safe_close(fd);
        return held;
}

int snapshot_local(int src, uint64_t max_size, bool require_consistent, int *ret_fd) {
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
                FileVersion before, after;
                int lease = -EBADF;
                uint64_t size;
                bool held;
                int ro;

                if (require_consistent) {
                        /* Without a lease nothing can be proven: no copy is made for nothing. */
                        lease = lease_take(src);
                        if (lease == -EAGAIN)
                                continue;
                        if (lease == -EMFILE || lease == -ENFILE || lease == -ENOMEM)
                                return lease;
                        if (lease < 0)
                                return -EAGAIN;
                }
                memfd = memfd_new_sealable("safe-mmap-local");
                if (memfd < 0) {
                        (void) lease_release(lease);
                        return snapshot_errno(memfd);
                }
                r = file_version_from_fd(src, &before);
                if (r >= 0)
                        r = memfd_fill(src, memfd, max_size, &size);
                if (r >= 0)
                        r = file_version_from_fd(src, &after);
                held = lease_release(lease);
                if (r < 0)
                        return snapshot_errno(r);
                if (!file_version_equal(&before, &after))
                        continue; /* torn: a writer changed the file while we copied */
                /* A file nobody writes has as many bytes as it says (procfs files do not). */
                if (require_consistent && (!held || after.size != size))
                        continue;

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
                           unsigned *ret_flags, bool *ret_unreachable) {
        _cleanup_close_ int snap = -EBADF;
        ProtoRequest req = {};
        ProtoReply reply;
        uint64_t size;
        int r, kind;

        *ret_unreachable = false;
        if (path) {
                req.type = PROTO_REQUEST_SNAPSHOT_PATH;
                req.path = path;
                req.path_length = (uint32_t) strlen(path);
        } else
                req.type = PROTO_REQUEST_SNAPSHOT_FD;

        r = connection_call(&req, path ? -EBADF : fd, &reply, &snap);
        if (r < 0) {
                /* Nobody there, or closed or silent before answering: it died, or dropped us over a limit. */
                *ret_unreachable = daemon_unreachable(r);
                /*
                 * With NO_FALLBACK this error reaches the caller, and a connect
                 * error such as -ENOENT or -EACCES would read as the file's.
                 * Only -EPERM (an untrusted socket) has a meaning of its own;
                 * a daemon that hung up or fell silent says so.
                 */
                if (*ret_unreachable && r != -EPERM && r != -ECONNRESET && r != -ETIMEDOUT)
                        return -ECONNREFUSED;
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
        /* The daemon's word, and only about what it did: the descriptor was proven above. */
        *ret_flags = SAFE_MMAP_MADE_BY_DAEMON |
                (reply.flags & PROTO_REPLY_CONSISTENT ? SAFE_MMAP_CONSISTENT : 0) |
                (reply.flags & PROTO_REPLY_CACHED ? SAFE_MMAP_CACHED : 0);
        return 0;
}

/*
 * Zero copy: a file that already proves immutable needs no snapshot. It is
 * mapped through a read-only description of its own (the caller's may be
 * O_RDWR, and its file offset is the caller's), which is proven in turn:
 * the proof is always about the descriptor that is mapped. Where it cannot
 * be reopened (no /proc, a file the caller may not open by itself), the
 * caller's description is mapped, immutable all the same. -EBADFD: not
 * immutable, to be copied.
 *
 * The proof is made on a duplicate, as another thread may close and reuse
 * @src's number meanwhile. Most files are not immutable, and a verdict of
 * "copy it" needs no such care (whatever is copied is proven in turn): @src
 * is tested as it is first, and only a file that passes is duplicated and
 * proven again, which spares the common case a dup() and a close().
 */
static int snapshot_as_given(int src, unsigned flags, safe_mmap **ret) {
        _cleanup_close_ int copy = -EBADF, own = -EBADF;
        uint64_t size, own_size;
        int r, kind, own_kind;

        r = verify_fd(src, &kind, &size);
        if (r < 0)
                return r;
        copy = map_dup(src);
        if (copy < 0)
                return copy;
        r = verify_fd(copy, &kind, &size);
        if (r < 0)
                return r;

        own = fd_reopen_rdonly(copy);
        if (own >= 0 && verify_fd(own, &own_kind, &own_size) >= 0 && own_kind == kind && own_size == size)
                safe_close(TAKE_FD(copy));
        else /* no /proc, or no right to reopen: the caller's description, still immutable */
                own = safe_close(own);

        return map_new(own >= 0 ? TAKE_FD(own) : TAKE_FD(copy), kind, SAFE_MMAP_AS_GIVEN | SAFE_MMAP_CONSISTENT,
                       0, size, flags & SAFE_MMAP_POPULATE, ret);
}

/*
 * Refusals that mean "not by the daemon", not "not for you": its size limit
 * (-EFBIG) and the uid's budget (-EDQUOT) are about the daemon's memory,
 * which a copy of our own does not use (it is the caller's, under the
 * caller's limits); -EOPNOTSUPP is a file on a synthetic file system, which
 * must be read with the caller's own rights in any case. Each lets a copy be
 * made here, from the caller's descriptor, unless SAFE_MMAP_NO_FALLBACK.
 */
static bool daemon_refusal_local_ok(int r) {
        return r == -EFBIG || r == -EDQUOT || r == -EOPNOTSUPP;
}

/*
 * Whether @fd is on a file system that makes its files up as they are read
 * (fs_is_synthetic()): read by the daemon, such a file would show what the
 * daemon may see, not what the caller may.
 */
static bool source_is_synthetic(int fd) {
        struct statfs sfs;

        return fstatfs(fd, &sfs) >= 0 && fs_is_synthetic(&sfs);
}

static int snapshot_map(int src, const char *path, unsigned flags, safe_mmap **ret) {
        bool consistent = flags & SAFE_MMAP_REQUIRE_CONSISTENT;
        unsigned result_flags = 0;
        _cleanup_close_ int snap = -EBADF;
        uint64_t size, limit;
        int r, kind;

        /* Checked first, so that a bad value fails whether or not a daemon answers. */
        r = snapshot_local_size_max(&limit);
        if (r < 0)
                return r;

        if (src >= 0) {
                r = snapshot_as_given(src, flags, ret);
                if (r != -EBADFD)
                        return r;
                /* Never sent: the answer the daemon gives such a file (-EOPNOTSUPP) is known. */
                if (!(flags & SAFE_MMAP_NO_DAEMON) && source_is_synthetic(src)) {
                        if (flags & SAFE_MMAP_NO_FALLBACK)
                                return -EOPNOTSUPP;
                        flags |= SAFE_MMAP_NO_DAEMON;
                }
        }

        if (!(flags & SAFE_MMAP_NO_DAEMON)) {
                bool unreachable = false;

                for (int attempt = 0; attempt < SNAPSHOT_ATTEMPTS; attempt++) {
                        r = daemon_snapshot(src, path, &snap, &kind, &size, &result_flags, &unreachable);
                        if (r < 0)
                                break;
                        if (!consistent || (result_flags & SAFE_MMAP_CONSISTENT))
                                return map_new(TAKE_FD(snap), kind, result_flags, 0, size, flags & SAFE_MMAP_POPULATE,
                                               ret);
                        /* Not proven: the file changed, or the daemon could hold no lease on it. */
                        snap = safe_close(snap);
                        r = -EAGAIN;
                }
                /* A path request is made only after our own open was denied: no local copy possible. */
                if (src < 0 && unreachable)
                        return -EACCES;
                /*
                 * The daemon answers but proves nothing (it may not lease a
                 * file it reads through our descriptor): a lease of our own
                 * may still prove a copy made here.
                 */
                if (consistent && r == -EAGAIN && src >= 0 && !(flags & SAFE_MMAP_NO_FALLBACK))
                        unreachable = true;
                if (daemon_refusal_local_ok(r) && src >= 0)
                        unreachable = true;
                if (!unreachable || (flags & SAFE_MMAP_NO_FALLBACK))
                        return r;
        }

        r = snapshot_local(src, limit, consistent, &snap);
        if (r < 0)
                return r;
        r = verify_fd(snap, &kind, &size);
        if (r < 0)
                return r;
        return map_new(TAKE_FD(snap), kind, SAFE_MMAP_MADE_LOCALLY | (consistent ? SAFE_MMAP_CONSISTENT : 0), 0, size,
                       flags & SAFE_MMAP_POPULATE, ret);
}

static int snapshot_flags_valid(unsigned flags) {
        if (flags & ~SNAPSHOT_FLAGS_ALL)
                return false;
        /* Neither the daemon nor a local copy: nothing could be done. */
        return (flags & (SAFE_MMAP_NO_DAEMON | SAFE_MMAP_NO_FALLBACK)) !=
               (SAFE_MMAP_NO_DAEMON | SAFE_MMAP_NO_FALLBACK);
}

static int snapshot_fd_impl(int fd, unsigned flags, safe_mmap **ret) {
        int r;

        if (!ret || !snapshot_flags_valid(flags))
                return -EINVAL;
        r = snapshot_check_source(fd);
        if (r < 0)
                return r;
        return snapshot_map(fd, NULL, flags, ret);
}

_public_ int safe_mmap_snapshot_fd(int fd, unsigned flags, safe_mmap **ret) {
        static const int allowed[] = { ERRNOS_SNAPSHOT_FD };

        return ERRNO_FILTER(snapshot_fd_impl(fd, flags, ret), allowed);
}

/* The daemon resolves paths from its grant roots: it needs an absolute one. */
static int path_make_absolute(const char *path, char **ret) {
        _cleanup_free_ char *abs = NULL;
        char cwd[PATH_MAX];

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
        if (strlen(abs) > PROTO_PATH_MAX)
                return -ENAMETOOLONG;
        *ret = TAKE_PTR(abs);
        return 0;
}

/*
 * Opens @path for reading without side effects on anything but a regular
 * file: O_PATH first (opens nothing for real, never blocks on a FIFO, never
 * rewinds a tape), the type checked, then a real open of that very inode.
 */
static int snapshot_open(const char *path, int *ret_fd) {
        _cleanup_close_ int pfd = -EBADF;
        int fd, r;

        pfd = open(path, O_PATH | O_CLOEXEC);
        if (pfd < 0)
                return -errno;
        r = snapshot_source_type(pfd, -EIO);
        if (r < 0)
                return r;

        fd = fd_reopen(pfd, O_RDONLY);
        if (fd == -ENOENT) { /* no /proc: a real open, still never blocking */
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (fd < 0)
                        return -errno;
        }
        if (fd < 0)
                return fd;
        *ret_fd = fd;
        return 0;
}

static int snapshot_impl(const char *path, unsigned flags, safe_mmap **ret) {
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

_public_ int safe_mmap_snapshot(const char *path, unsigned flags, safe_mmap **ret) {
        static const int allowed[] = { ERRNOS_SNAPSHOT };

        return ERRNO_FILTER(snapshot_impl(path, flags, ret), allowed);
}
