/* SPDX-License-Identifier: Apache-2.0 OR MIT */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "format.h"
#include "macro.h"
#include "safe-mmap.h"

/* The tool names kinds with common/seal-util's names, which must be the public values. */
_Static_assert((int) KIND_SEALED_MEMFD == (int) SAFE_MMAP_SEALED_MEMFD &&
               (int) KIND_FS_VERITY == (int) SAFE_MMAP_FS_VERITY &&
               (int) KIND_UNVERIFIED == (int) SAFE_MMAP_UNVERIFIED, "kind values differ from safe-mmap.h");

const char *strerror_lower(int error, char *buf, size_t size) {
        snprintf(buf, size, "%s", strerror(error));
        if (buf[0] >= 'A' && buf[0] <= 'Z' && buf[1] >= 'a' && buf[1] <= 'z')
                buf[0] = (char) (buf[0] - 'A' + 'a');
        return buf;
}

const char *snapshot_strerror(int r) {
        switch (r) {
        case -EBADFD:
                return "immutability not proven";
        case -EFBIG:
                return "file larger than the snapshot size limit";
        case -EINVAL:
                return "not a regular file";
        case -EAGAIN:
                return "file kept changing while it was copied";
        case -EDQUOT:
                return "your snapshot memory at the daemon is used up (release snapshots you hold, or ask for a "
                       "larger --max-bytes-per-uid)";
        case -EXDEV:
                return "path leaves the policy grant that covers it (through \"..\", a symlink or a mount point)";
        default:
                return strerror(-r);
        }
}

const char *file_type_to_string(mode_t mode) {
        switch (mode & S_IFMT) {
        case S_IFDIR:
                return "directory";
        case S_IFIFO:
                return "FIFO";
        case S_IFSOCK:
                return "socket";
        case S_IFCHR:
                return "character device";
        case S_IFBLK:
                return "block device";
        case S_IFLNK:
                return "symbolic link";
        default:
                return "unknown type";
        }
}

const char *fs_type_to_string(long type, char *buf, size_t size) {
        /* f_type is a signed long holding a 32-bit magic; compare the low bits. */
        switch ((unsigned long) type & 0xffffffffUL) {
        case TMPFS_MAGIC:
                return "tmpfs";
        case HUGETLBFS_MAGIC:
                return "hugetlbfs";
        case EXT4_SUPER_MAGIC:
                return "ext4";
        case F2FS_SUPER_MAGIC:
                return "f2fs";
        case BTRFS_SUPER_MAGIC:
                return "btrfs";
        case XFS_SUPER_MAGIC:
                return "xfs";
        case OVERLAYFS_SUPER_MAGIC:
                return "overlayfs";
        case PROC_SUPER_MAGIC:
                return "proc";
        case PIPEFS_MAGIC:
                return "pipefs";
        case SOCKFS_MAGIC:
                return "sockfs";
        default:
                snprintf(buf, size, "0x%lx", (unsigned long) type & 0xffffffffUL);
                return buf;
        }
}

int fd_get_name(int fd, char *buf, size_t size) {
        char proc[PROC_FD_PATH_MAX];
        ssize_t n;

        n = readlink(fd_proc_path(fd, proc), buf, size - 1);
        if (n < 0)
                return negative_errno();
        buf[n] = '\0';
        return 0;
}

static const char *verity_algorithm_to_string(unsigned algorithm) {
        return algorithm == SAFE_MMAP_VERITY_SHA256 ? "sha256" :
               algorithm == SAFE_MMAP_VERITY_SHA512 ? "sha512" : "unknown";
}

int parse_digest(const char *s, Digest *ret) {
        Digest d = {};
        size_t n;

        if (strncmp(s, "sha256:", 7) == 0) {
                d.algorithm = SAFE_MMAP_VERITY_SHA256;
                s += 7;
        } else if (strncmp(s, "sha512:", 7) == 0) {
                d.algorithm = SAFE_MMAP_VERITY_SHA512;
                s += 7;
        }
        n = strlen(s);
        if (n != 64 && n != 128)
                return -EINVAL;
        if (d.algorithm == 0)
                d.algorithm = n == 64 ? SAFE_MMAP_VERITY_SHA256 : SAFE_MMAP_VERITY_SHA512;
        if ((d.algorithm == SAFE_MMAP_VERITY_SHA256) != (n == 64))
                return -EINVAL;
        d.size = n / 2;
        for (size_t i = 0; i < d.size; i++) {
                unsigned v;

                if (!isxdigit((unsigned char) s[2 * i]) || !isxdigit((unsigned char) s[2 * i + 1]) ||
                    sscanf(s + 2 * i, "%2x", &v) != 1)
                        return -EINVAL;
                d.bytes[i] = (uint8_t) v;
        }
        *ret = d;
        return 0;
}

void print_digest(unsigned algorithm, const uint8_t *bytes, size_t size) {
        printf("%s:", verity_algorithm_to_string(algorithm));
        for (size_t i = 0; i < size; i++)
                printf("%02x", bytes[i]);
}

void print_bytes(const char *label, uint64_t bytes) {
        static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
        double v = (double) bytes;
        size_t u;

        printf("%s%" PRIu64 " bytes", label, bytes);
        if (bytes >= 1024) {
                for (u = 0, v /= 1024; v >= 1024 && u + 1 < ELEMENTSOF(units); u++)
                        v /= 1024;
                printf(" (%.1f %s)", v, units[u]);
        }
        putchar('\n');
}
