/* SPDX-License-Identifier: Apache-2.0 OR MIT */

/*
 * Sealed memfds from bytes in memory, for handing to another process: the
 * code every project that passes read-only data over a socket writes by hand
 * (xdg-desktop-portal, fwupd, Wayland compositors), and that the local
 * snapshot already has. It is the same memfd-util code, so what
 * safe_mmap_seal_bytes() makes is exactly what a local snapshot is.
 */

#include <errno.h>

#include "internal.h"
#include "macro.h"
#include "memfd-util.h"

/* The name shows in /proc/PID/fd and maps of whoever receives it: a constant, never data. */
#define SEAL_MEMFD_NAME "safe-mmap-sealed"

static int seal_bytes_impl(const void *data, size_t size, int *ret_fd) {
        int fd;

        if (!ret_fd || (!data && size > 0))
                return -EINVAL;

        fd = memfd_new_sealed_from(SEAL_MEMFD_NAME, data, size);
        if (fd == -EFAULT) /* @data is not readable memory */
                return -EINVAL;
        if (fd < 0)
                return fd; /* the boundary keeps what is documented */
        *ret_fd = fd;
        return 0;
}

_public_ int safe_mmap_seal_bytes(const void *data, size_t size, int *ret_fd) {
        static const int allowed[] = { ERRNOS_SEAL_BYTES };

        return ERRNO_FILTER(seal_bytes_impl(data, size, ret_fd), allowed);
}
