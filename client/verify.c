/* SPDX-License-Identifier: Apache-2.0 OR MIT */

/*
 * The proof of immutability. Order matters (safe-mmap(3), VERIFICATION): the
 * kind of file is established first, the size is read only after, since only
 * then can it no longer change.
 */

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/fsverity.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "internal.h"
#include "macro.h"
#include "missing.h"

/* Errors of the kernel calls below that are not part of the documented contract become -EIO. */
static int verify_errno(void) {
        switch (errno) {
        case EBADF:
        case ENOMEM:
                return -errno;
        default:
                return -EIO;
        }
}

/*
 * Sealed memfd. F_GET_SEALS answers on every shmem file, so a plain tmpfs or
 * /dev/shm file answers too (with F_SEAL_SEAL only, as it cannot be sealed):
 * that is why the set of seals is checked, not the call's success.
 * F_SEAL_FUTURE_WRITE does not count: it leaves writable mappings made before
 * it alive.
 */
static int verify_seals(int seals) {
        return (seals & SEALS_IMMUTABLE) == SEALS_IMMUTABLE ? 0 : -EBADFD;
}

/*
 * hugetlbfs memfds take seals too, but their pages are reserved at fault time
 * and can fail with SIGBUS: we do not map them. F_GET_SEALS answers only for
 * shmem and hugetlbfs files (mm/memfd.c), so once it did, one of the two is
 * left, and st_blksize tells them apart without another call: a hugetlbfs
 * inode's block size is its huge page size, always larger than a base page,
 * while tmpfs says PAGE_SIZE (or HPAGE_PMD_SIZE where tmpfs itself uses huge
 * pages). Any block size but the base page's is asked of fstatfs(), as before.
 */
static int verify_memfd_fs(int fd, const struct stat *st) {
        struct statfs sfs;

        if (st->st_blksize == sysconf(_SC_PAGESIZE))
                return 0;
        if (fstatfs(fd, &sfs) < 0)
                return verify_errno();
        return sfs.f_type == TMPFS_MAGIC ? 0 : -EBADFD;
}

static bool verity_filesystem(int fd) {
        struct statfs sfs;

        return fstatfs(fd, &sfs) >= 0 && fs_is_verity_capable(&sfs);
}

/*
 * fs-verity: a verity file can never be opened for writing again, and its
 * data is checked against the Merkle tree on every read. statx reports the
 * attribute only where the filesystem fills stx_attributes_mask, so a clear
 * bit means "no" only when the mask says the filesystem would tell; older
 * kernels get the inode flag through FS_IOC_GETFLAGS, asked only of regular
 * files (an ioctl on a device could mean anything).
 */
static int verify_verity(int fd) {
        struct statx stx;
        bool verity = false;

        if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, STATX_TYPE, &stx) < 0)
                return verify_errno();
        if (!S_ISREG(stx.stx_mode))
                return -EBADFD;

        if (stx.stx_attributes_mask & STATX_ATTR_VERITY)
                verity = stx.stx_attributes & STATX_ATTR_VERITY;
        else {
                long attr = 0;

                if (ioctl(fd, FS_IOC_GETFLAGS, &attr) >= 0)
                        verity = attr & FS_VERITY_FL;
        }
        if (!verity || !verity_filesystem(fd))
                return -EBADFD;
        return 0;
}

int verify_file(int fd, int *ret_kind, uint64_t *ret_size) {
        struct stat st;
        int r, kind, seals;

        seals = fcntl(fd, F_GET_SEALS);
        if (seals >= 0) {
                kind = SAFE_MMAP_SEALED_MEMFD;
                r = verify_seals(seals);
        } else if (errno == EINVAL) { /* not a shmem file: it can only be a verity file now */
                kind = SAFE_MMAP_FS_VERITY;
                r = verify_verity(fd);
        } else
                return verify_errno();
        if (r < 0)
                return r;

        /* Only now is the size fixed: sealed against shrink and grow, or verity. */
        if (fstat(fd, &st) < 0)
                return verify_errno();
        if (kind == SAFE_MMAP_SEALED_MEMFD) {
                r = verify_memfd_fs(fd, &st);
                if (r < 0)
                        return r;
        }
        if (!S_ISREG(st.st_mode) || st.st_size < 0)
                return -EBADFD;

        if (ret_kind)
                *ret_kind = kind;
        if (ret_size)
                *ret_size = (uint64_t) st.st_size;
        return 0;
}

int verify_fd(int fd, int *ret_kind, uint64_t *ret_size) {
        int r;

        r = fd_check_readable(fd);
        if (r < 0)
                return r;
        return verify_file(fd, ret_kind, ret_size);
}

/*
 * Measures a verity file: the kernel returns the digest of its Merkle tree
 * root and parameters (what `fsverity measure` prints). A buffer for the
 * longest digest is always passed, so that the length is learned even when
 * the caller's buffer is too small.
 */
int verify_verity_digest(int fd, unsigned *ret_algorithm, uint8_t *buf, size_t size) {
        /* struct fsverity_digest ends in a flexible array: room for the longest digest after it. */
        uint16_t raw[(sizeof(struct fsverity_digest) + SAFE_MMAP_VERITY_DIGEST_MAX) / sizeof(uint16_t)] = {};
        struct fsverity_digest *d = (struct fsverity_digest *) raw;

        d->digest_size = SAFE_MMAP_VERITY_DIGEST_MAX;
        if (ioctl(fd, FS_IOC_MEASURE_VERITY, d) < 0) {
                /* ENOTTY/EOPNOTSUPP: not a verity filesystem at all; either way, no digest. */
                if (errno == ENODATA || errno == ENOTTY || errno == EOPNOTSUPP)
                        return -ENODATA;
                return errno == ENOMEM ? -ENOMEM : -EIO;
        }
        if (d->digest_size == 0 || d->digest_size > SAFE_MMAP_VERITY_DIGEST_MAX)
                return -EIO;
        if (size < d->digest_size)
                return -ENOBUFS;
        memcpy(buf, d->digest, d->digest_size);
        if (ret_algorithm)
                *ret_algorithm = d->digest_algorithm;
        return d->digest_size;
}

static int check_fd_impl(int fd, int *ret_kind, uint64_t *ret_size) {
        return verify_fd(fd, ret_kind, ret_size);
}

_public_ int safe_mmap_check_fd(int fd, int *ret_kind, uint64_t *ret_size) {
        static const int allowed[] = { ERRNOS_CHECK_FD };

        return ERRNO_FILTER(check_fd_impl(fd, ret_kind, ret_size), allowed);
}
