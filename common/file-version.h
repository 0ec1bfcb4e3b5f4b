/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * What tells that a file changed: a writer moves at least one of its size,
 * mtime or ctime, and a file replaced by another has another device, inode
 * or mount. Used by the library to see a torn copy and meant as the key of
 * safe-mmapd's snapshot cache, so that both agree on what "the same version
 * of the same file" is.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U /* Linux 5.8 */
#endif
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U /* Linux 6.8: never reused while the system runs */
#endif

/* The statx() mask a caller passes when it fills a FileVersion from its own statx(). */
#define FILE_VERSION_STATX_MASK (STATX_BASIC_STATS | STATX_MNT_ID | STATX_MNT_ID_UNIQUE)

typedef struct FileVersion {
        uint64_t dev; /* major << 32 | minor */
        uint64_t ino;
        uint64_t size;
        int64_t mtime_sec, ctime_sec;
        uint32_t mtime_nsec, ctime_nsec;
        /* The mount, where the kernel says: STATX_MNT_ID_UNIQUE, else STATX_MNT_ID, else 0 (mnt_id_mask says which). */
        uint64_t mnt_id;
        uint32_t mnt_id_mask;
} FileVersion;

/* Fills @ret from @stx, which was asked for FILE_VERSION_STATX_MASK (or at least STATX_BASIC_STATS). */
void file_version_from_statx(const struct statx *stx, FileVersion *ret);

/* statx() of @fd itself (AT_EMPTY_PATH) into @ret; 0 or the kernel's -errno. */
int file_version_from_fd(int fd, FileVersion *ret);

/* Whether @a and @b are the same version of the same file: every field equal. */
bool file_version_equal(const FileVersion *a, const FileVersion *b);
