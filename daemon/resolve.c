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
#include "file-version.h"
#include "memfd-util.h"
#include "resolve.h"

/* FUSE servers make up what they like; configfs files are attributes. */
#define FUSE_SUPER_MAGIC_LOCAL 0x65735546
#define CONFIGFS_MAGIC_LOCAL 0x62656570
#define F2FS_SUPER_MAGIC_LOCAL 0xF2F52010

static bool fs_type_is_synthetic(long type) {
        static const long magics[] = {
                PROC_SUPER_MAGIC, SYSFS_MAGIC, DEBUGFS_MAGIC, TRACEFS_MAGIC, SECURITYFS_MAGIC,
                CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, BPF_FS_MAGIC, EFIVARFS_MAGIC,
                PSTOREFS_MAGIC, FUSE_SUPER_MAGIC_LOCAL, CONFIGFS_MAGIC_LOCAL,
        };

        for (size_t i = 0; i < ELEMENTSOF(magics); i++)
                if (type == magics[i])
                        return true;
        return false;
}

bool resolve_fs_is_synthetic(int fd) {
        struct statfs sfs;

        if (fstatfs(fd, &sfs) < 0)
                return true;
        return fs_type_is_synthetic((long) sfs.f_type);
}

void source_done(Source *s) {
        s->fd = safe_close(s->fd);
}

/*
 * One fstatfs() decides both: what is synthetic is read through the client's
 * description and never shared; what is fs-verity (on a filesystem whose
 * verity the client library also accepts) is served as it is. A borrowed
 * description is never served as fs-verity: it is the client's own, and the
 * daemon would keep it open (and close it) long after the request.
 */
static void source_classify(Source *s) {
        struct statfs sfs;

        if (fstatfs(s->fd, &sfs) < 0) {
                s->synthetic = true;
                return;
        }
        s->synthetic = fs_type_is_synthetic((long) sfs.f_type);
        s->verity = !s->borrowed && !s->synthetic &&
                (s->stx.stx_attributes_mask & STATX_ATTR_VERITY) && (s->stx.stx_attributes & STATX_ATTR_VERITY) &&
                (sfs.f_type == EXT4_SUPER_MAGIC || sfs.f_type == (typeof(sfs.f_type)) F2FS_SUPER_MAGIC_LOCAL ||
                 sfs.f_type == BTRFS_SUPER_MAGIC);
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

/* Checks the type on the handle first, then reopens: a FIFO or device is never opened for real. */
static int reopen_regular(int fd, Source *ret) {
        Source s = SOURCE_NULL;
        int r;

        r = statx_regular(fd, &s.stx);
        if (r < 0)
                return r;
        r = resolve_reopen(fd, &s.fd);
        if (r < 0)
                return r;
        source_classify(&s);
        *ret = s;
        return 0;
}

int resolve_fd(int client_fd, Source *ret) {
        Source s = SOURCE_NULL;
        struct statfs sfs;
        int flags, r;

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

        r = statx_regular(client_fd, &s.stx);
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
        if (fstatfs(client_fd, &sfs) >= 0 && !fs_type_is_synthetic((long) sfs.f_type)) {
                r = resolve_reopen(client_fd, &s.fd);
                if (r >= 0) {
                        source_classify(&s);
                        *ret = s;
                        return 0;
                }
                if (r != -EACCES && r != -EPERM)
                        return r;
        }
        s.fd = fcntl(client_fd, F_DUPFD_CLOEXEC, 3);
        if (s.fd < 0)
                return negative_errno();
        s.borrowed = true;
        source_classify(&s);
        *ret = s;
        return 0;
}

int resolve_path(int root_fd, const char *relative, uint64_t resolve_flags, Source *ret) {
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

        return reopen_regular(fd, ret);
}
