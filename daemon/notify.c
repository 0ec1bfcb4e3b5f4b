/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "notify.h"

static int notify_fd = -EBADF;

int notify_open(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *e = getenv("NOTIFY_SOCKET");
        _cleanup_close_ int fd = -EBADF;
        size_t len;

        if (notify_fd >= 0 || !e || !*e)
                return 0;
        /* A path or an abstract name ("@..."); vsock is not for a local service. */
        if (e[0] != '/' && e[0] != '@')
                return -EAFNOSUPPORT;
        len = strlen(e);
        if (len >= sizeof(sa.sun_path))
                return -EINVAL;
        memcpy(sa.sun_path, e, len);
        if (sa.sun_path[0] == '@')
                sa.sun_path[0] = '\0';

        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (const struct sockaddr *) &sa, (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len)) < 0)
                return negative_errno();
        notify_fd = TAKE_FD(fd);
        return 0;
}

void notify_close(void) {
        notify_fd = safe_close(notify_fd);
}

int notify_send(const char *state) {
        if (notify_fd < 0)
                return 0;
        if (send(notify_fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                return negative_errno();
        return 1;
}

int notify_sendf(const char *format, ...) {
        char buf[512];
        va_list ap;
        int n;

        va_start(ap, format);
        n = vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        return notify_send(buf);
}
