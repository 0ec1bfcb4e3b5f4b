/* SPDX-License-Identifier: Apache-2.0 OR MIT */

/*
 * safe-mmap cat: every byte written comes from the verified mapping, never
 * from a second read of the file: reading the file again would hand the
 * reader whatever a concurrent writer put there, which is exactly what the
 * snapshot exists to prevent.
 */

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

/* Returns 0, -EPIPE when the reader went away, or another negative errno. */
static int write_all(int fd, const uint8_t *p, uint64_t n) {
        while (n > 0) {
                /* Linux writes at most 0x7ffff000 bytes per call anyway. */
                size_t chunk = n > (UINT64_C(1) << 30) ? (size_t) 1 << 30 : (size_t) n;
                ssize_t k = write(fd, p, chunk);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                /* stdout may be a non-blocking descriptor we inherited. */
                                struct pollfd pfd = { .fd = fd, .events = POLLOUT };

                                if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                                        return negative_errno();
                                continue;
                        }
                        return negative_errno();
                }
                if (k == 0)
                        return -EIO;
                p += k;
                n -= (uint64_t) k;
        }
        return 0;
}

static int cat_one(_unused_ const char *path, _unused_ unsigned flags, const safe_mmap *m,
                   _unused_ bool first) {
        int r;

        r = write_all(STDOUT_FILENO, safe_mmap_data(m), safe_mmap_size(m));
        if (r == -EPIPE)
                /* The reader has what it wanted (e.g. `| head`); that is no failure. */
                return 1;
        if (r < 0) {
                fprintf(stderr, PROGRAM ": write error: %s\n", strerror(-r));
                return r;
        }
        return 0;
}

int verb_cat(int argc, char *argv[]) {
        return snapshot_each("cat", argc, argv, false, cat_one);
}

