/* SPDX-License-Identifier: Apache-2.0 OR MIT */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "memfd-util.h"
#include "missing.h"

/*
 * sendfile() moves at most this much per call. It is the fastest fill measured
 * here (tests/bench/bench-copy.c: 1.2-1.5x pread+write up to 1 MiB, on par
 * with splice beyond); copy_file_range() fails with EXDEV from ext4 into tmpfs.
 */
#define FILL_CHUNK (UINT64_C(1) << 20)

int memfd_new_sealable(const char *name) {
        int fd;

        fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
        if (fd < 0 && errno == EINVAL)
                /* Kernels before 6.3 know no MFD_NOEXEC_SEAL; F_SEAL_EXEC is added when sealing. */
                fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        return fd < 0 ? negative_errno() : fd;
}

int memfd_fill(int src, int memfd, uint64_t limit, uint64_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        uint64_t total = 0;
        off_t offset = 0;
        bool use_sendfile = true;

        if (limit >= INT64_MAX)
                limit = INT64_MAX - 1;

        for (;;) {
                uint64_t left = limit - total + 1;
                size_t chunk = (size_t) (left < FILL_CHUNK ? left : FILL_CHUNK);
                ssize_t n;

                if (use_sendfile) {
                        /* With an offset pointer, the source's file offset stays untouched. */
                        n = sendfile(memfd, src, &offset, chunk);
                        if (n < 0 && (errno == EINVAL || errno == ENOSYS) && total == 0) {
                                /* Some pseudo filesystems cannot splice. */
                                use_sendfile = false;
                                continue;
                        }
                } else {
                        if (!buf) {
                                buf = malloc(FILL_CHUNK);
                                if (!buf)
                                        return -ENOMEM;
                        }
                        n = pread(src, buf, chunk, offset);
                        if (n > 0) {
                                int r = loop_write(memfd, buf, (size_t) n);
                                if (r < 0)
                                        return r;
                                offset += n;
                        }
                }
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                total += (uint64_t) n;
                if (total > limit)
                        return -EFBIG;
        }
        *ret_size = total;
        return 0;
}

int memfd_seal_immutable(int memfd) {
        int seals = F_SEAL_SEAL | SEALS_IMMUTABLE;

        /* Nobody should execute a snapshot; F_SEAL_EXEC also freezes the mode bits. */
        (void) fchmod(memfd, 0444);
        if (fcntl(memfd, F_ADD_SEALS, seals | F_SEAL_EXEC) >= 0)
                return 0;
        if (errno != EINVAL)
                return negative_errno();
        /* Before 6.3 F_SEAL_EXEC is unknown; the other seals are what the promise needs. */
        if (fcntl(memfd, F_ADD_SEALS, seals) < 0)
                return negative_errno();
        return 0;
}

int memfd_new_sealed_from(const char *name, const void *data, size_t size) {
        _cleanup_close_ int memfd = -EBADF;
        int r, ro;

        memfd = memfd_new_sealable(name);
        if (memfd < 0)
                return memfd;
        /* write(), not a shared mapping: a full tmpfs says ENOSPC here rather than SIGBUS there. */
        r = loop_write(memfd, data, size);
        if (r < 0)
                return r;
        r = memfd_seal_immutable(memfd);
        if (r < 0)
                return r;
        ro = fd_reopen_rdonly(memfd);
        if (ro == -ENOENT)
                return TAKE_FD(memfd);
        return ro;
}
