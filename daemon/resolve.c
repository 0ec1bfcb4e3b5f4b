/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"
#include "fd-util.h"
#include "file-version.h"
#include "fs-util.h"
#include "memfd-util.h"
#include "resolve.h"

/*
 * Files on synthetic file systems (common/fs-util.h says which and why) are
 * made up when read, by the reader's credentials, pid or namespaces: read by
 * the daemon they would show what root sees. They are refused, whether sent
 * as a descriptor or reached by a path beneath a grant, and the library
 * copies them itself with the caller's own rights. A file system that cannot
 * be told is refused too.
 */
static int refuse_synthetic(int fd, struct statfs *ret_sfs) {
        if (fstatfs(fd, ret_sfs) < 0)
                return -EOPNOTSUPP;
        if (fs_is_synthetic(ret_sfs))
                return -EOPNOTSUPP;
        return 0;
}

void source_done(Source *s) {
        s->fd = safe_close(s->fd);
}

/*
 * What is fs-verity (on a filesystem whose verity the client library also
 * accepts) is served as it is. A borrowed description is never served as
 * fs-verity: it is the client's own, and the daemon would keep it open (and
 * close it) long after the request.
 */
static void source_classify(Source *s) {
        s->verity = !s->borrowed && source_may_be_verity(s);
}

bool source_may_be_verity(const Source *s) {
        return (s->stx.stx_attributes_mask & STATX_ATTR_VERITY) && (s->stx.stx_attributes & STATX_ATTR_VERITY) &&
                s->verity_capable;
}

/*
 * /proc/self/fd, opened once at start-up: a reopen is then a look-up of one
 * name in it rather than of "/proc/self/fd/N" from the root (2.6 against
 * 3.7 us, on every cache hit). Written before any worker thread exists.
 */
static int proc_fd_dir = -EBADF;

int resolve_setup(void) {
        int fd;

        if (proc_fd_dir >= 0)
                return 0;
        fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        proc_fd_dir = fd;
        return 0;
}

int resolve_reopen(int fd, int *ret_fd) {
        char name[sizeof("-2147483648")];
        int r;

        if (proc_fd_dir < 0 || fd < 0)
                r = fd_reopen_rdonly(fd);
        else {
                /* The same flags as fd_reopen_rdonly(). */
                (void) snprintf(name, sizeof(name), "%i", fd);
                r = openat(proc_fd_dir, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
                if (r < 0)
                        r = negative_errno();
        }
        if (r < 0)
                return r;
        *ret_fd = r;
        return 0;
}

static int statx_regular(int fd, struct statx *ret) {
        struct statx stx;

        /* FILE_VERSION_STATX_MASK: the cache key names the mount, not only the device. */
        if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT, FILE_VERSION_STATX_MASK,
                  &stx) < 0)
                return negative_errno();
        if (!(stx.stx_mask & STATX_TYPE))
                return -EINVAL;
        if (S_ISDIR(stx.stx_mode))
                return -EISDIR;
        if (S_ISLNK(stx.stx_mode))
                return -ELOOP;
        if (!S_ISREG(stx.stx_mode))
                return -EINVAL;
        *ret = stx;
        return 0;
}

/* Type and file system, on the handle: a FIFO or device is never opened for real. */
static int check_regular(int fd, Source *ret) {
        Source s = SOURCE_NULL;
        struct statfs sfs;
        int r;

        r = statx_regular(fd, &s.stx);
        if (r < 0)
                return r;
        r = refuse_synthetic(fd, &sfs);
        if (r < 0)
                return r;
        s.verity_capable = fs_is_verity_capable(&sfs);
        s.checked = true;
        *ret = s;
        return 0;
}

int resolve_fd_check(int client_fd, Source *ret) {
        int r;

        /*
         * An O_PATH descriptor only proves search permission on the directory
         * above it, and a write-only one proves no right to read: either way
         * the kernel never checked that this client may read the file.
         */
        r = fd_check_readable(client_fd);
        if (r < 0)
                return r;
        return check_regular(client_fd, ret);
}

int resolve_fd_open(int client_fd, Source *s) {
        int r;

        r = resolve_reopen(client_fd, &s->fd);
        if (r >= 0) {
                source_classify(s);
                return 0;
        }
        /*
         * A file the daemon may not open itself although the client could
         * (NFS with root_squash, an LSM rule) is copied through the client's
         * own description, at explicit offsets so its file offset stays put.
         */
        if (r != -EACCES && r != -EPERM)
                return r;
        s->fd = fcntl(client_fd, F_DUPFD_CLOEXEC, 3);
        if (s->fd < 0)
                return negative_errno();
        s->borrowed = true;
        source_classify(s);
        return 0;
}

int resolve_fd(int client_fd, Source *ret) {
        Source s;
        int r;

        r = resolve_fd_check(client_fd, &s);
        if (r < 0)
                return r;
        r = resolve_fd_open(client_fd, &s);
        if (r < 0)
                return r;
        *ret = s;
        return 0;
}

/* A hard link is trusted only as far as its owner: root's, or a uid the grant names. */
static int check_links(const struct statx *stx, const uid_t *owners, size_t n_owners) {
        if ((stx->stx_mask & (STATX_NLINK | STATX_UID)) != (STATX_NLINK | STATX_UID))
                return -EPERM;
        if (stx->stx_nlink <= 1 || stx->stx_uid == 0)
                return 0;
        for (size_t i = 0; i < n_owners; i++)
                if (owners[i] == stx->stx_uid)
                        return 0;
        return -EPERM;
}

int resolve_path_check(int root_fd, const char *relative, uint64_t resolve_flags, const uid_t *owners,
                       size_t n_owners, int *ret_path_fd, Source *ret) {
        _cleanup_close_ int fd = -EBADF;
        Source s;
        int r;
        struct open_how how = {
                /*
                 * O_PATH: nothing is opened for real before its type is known.
                 * A final symlink is followed, under the same RESOLVE_BENEATH
                 * rules as any other (NoSymlinks= refuses them all).
                 */
                .flags = O_PATH | O_CLOEXEC,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | resolve_flags,
        };

        fd = (int) syscall(SYS_openat2, root_fd, *relative ? relative : ".", &how, sizeof(how));
        if (fd < 0)
                return negative_errno();

        r = check_regular(fd, &s);
        if (r < 0)
                return r;
        r = check_links(&s.stx, owners, n_owners);
        if (r < 0)
                return r;
        *ret_path_fd = TAKE_FD(fd);
        *ret = s;
        return 0;
}

int resolve_path_open(int path_fd, Source *s) {
        int r;

        r = resolve_reopen(path_fd, &s->fd);
        if (r < 0)
                return r;
        source_classify(s);
        return 0;
}

int resolve_path(int root_fd, const char *relative, uint64_t resolve_flags, const uid_t *owners, size_t n_owners,
                 Source *ret) {
        _cleanup_close_ int path_fd = -EBADF;
        Source s;
        int r;

        r = resolve_path_check(root_fd, relative, resolve_flags, owners, n_owners, &path_fd, &s);
        if (r < 0)
                return r;
        r = resolve_path_open(path_fd, &s);
        if (r < 0)
                return r;
        *ret = s;
        return 0;
}
