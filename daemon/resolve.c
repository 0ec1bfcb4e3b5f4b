/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"
#include "memfd-util.h"
#include "resolve.h"

/* FUSE servers make up what they like; configfs files are attributes. */
#define FUSE_SUPER_MAGIC_LOCAL 0x65735546
#define CONFIGFS_MAGIC_LOCAL 0x62656570

bool resolve_fs_is_synthetic(int fd) {
        static const long magics[] = {
                PROC_SUPER_MAGIC, SYSFS_MAGIC, DEBUGFS_MAGIC, TRACEFS_MAGIC, SECURITYFS_MAGIC,
                CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, BPF_FS_MAGIC, EFIVARFS_MAGIC,
                PSTOREFS_MAGIC, FUSE_SUPER_MAGIC_LOCAL, CONFIGFS_MAGIC_LOCAL,
        };
        struct statfs sfs;

        if (fstatfs(fd, &sfs) < 0)
                return true;
        for (size_t i = 0; i < ELEMENTSOF(magics); i++)
                if ((long) sfs.f_type == magics[i])
                        return true;
        return false;
}

int resolve_reopen(int fd, int *ret_fd) {
        int r = fd_reopen_rdonly(fd);

        if (r < 0)
                return r;
        *ret_fd = r;
        return 0;
}

static int statx_regular(int fd, struct statx *ret) {
        struct statx stx;

        if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT,
                  STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE | STATX_MTIME | STATX_CTIME, &stx) < 0)
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

/* Checks the type on the handle first, then reopens: a FIFO or device is never opened for real. */
static int reopen_regular(int fd, int *ret_fd, struct statx *ret_stx) {
        struct statx stx;
        int r;

        r = statx_regular(fd, &stx);
        if (r < 0)
                return r;
        r = resolve_reopen(fd, ret_fd);
        if (r < 0)
                return r;
        *ret_stx = stx;
        return 0;
}

int resolve_fd(int client_fd, int *ret_fd, struct statx *ret_stx, bool *ret_borrowed) {
        struct statx stx;
        int flags, fd, r;

        flags = fcntl(client_fd, F_GETFL);
        if (flags < 0)
                return -EBADF;
        /*
         * An O_PATH descriptor only proves search permission on the directory
         * above it, and a write-only one proves no right to read: either way
         * the kernel never checked that this client may read the file.
         */
        if (flags & O_PATH)
                return -EBADF;
        if ((flags & O_ACCMODE) != O_RDONLY && (flags & O_ACCMODE) != O_RDWR)
                return -EBADF;

        r = statx_regular(client_fd, &stx);
        if (r < 0)
                return r;
        /*
         * Synthetic files check the reader at open time (kallsyms, /proc/PID
         * files, FUSE's allow_other): a reopen by the daemon would read them
         * with root's rights and hand the client what its own open never
         * allowed. Those are copied through the client's own description
         * (at explicit offsets, so its file offset stays put), and so is a
         * file the daemon may not open although the client could (NFS with
         * root_squash, an LSM rule).
         */
        if (!resolve_fs_is_synthetic(client_fd)) {
                r = resolve_reopen(client_fd, ret_fd);
                if (r >= 0) {
                        *ret_stx = stx;
                        *ret_borrowed = false;
                        return 0;
                }
                if (r != -EACCES && r != -EPERM)
                        return r;
        }
        fd = fcntl(client_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return negative_errno();
        *ret_fd = fd;
        *ret_stx = stx;
        *ret_borrowed = true;
        return 0;
}

int resolve_path(int root_fd, const char *relative, uint64_t resolve_flags, int *ret_fd, struct statx *ret_stx) {
        _cleanup_close_ int fd = -EBADF;
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

        return reopen_regular(fd, ret_fd, ret_stx);
}
