/* SPDX-License-Identifier: Apache-2.0 OR MIT */

#include <errno.h>
#include <fcntl.h>

#include "file-version.h"
#include "macro.h"

void file_version_from_statx(const struct statx *stx, FileVersion *ret) {
        *ret = (FileVersion) {
                .dev = (uint64_t) stx->stx_dev_major << 32 | stx->stx_dev_minor,
                .ino = stx->stx_ino,
                .size = stx->stx_size,
                .mtime_sec = stx->stx_mtime.tv_sec,
                .mtime_nsec = stx->stx_mtime.tv_nsec,
                .ctime_sec = stx->stx_ctime.tv_sec,
                .ctime_nsec = stx->stx_ctime.tv_nsec,
        };
        /* The unique id where the kernel has it: the old one may be reused after an unmount. */
        if (stx->stx_mask & STATX_MNT_ID_UNIQUE)
                ret->mnt_id_mask = STATX_MNT_ID_UNIQUE;
        else if (stx->stx_mask & STATX_MNT_ID)
                ret->mnt_id_mask = STATX_MNT_ID;
        if (ret->mnt_id_mask != 0)
                ret->mnt_id = stx->stx_mnt_id;
}

int file_version_from_fd(int fd, FileVersion *ret) {
        struct statx stx;

        if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, FILE_VERSION_STATX_MASK, &stx) < 0)
                return negative_errno();
        file_version_from_statx(&stx, ret);
        return 0;
}

bool file_version_equal(const FileVersion *a, const FileVersion *b) {
        return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
                a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
                a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec &&
                a->mnt_id_mask == b->mnt_id_mask && a->mnt_id == b->mnt_id;
}
