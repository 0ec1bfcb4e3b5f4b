/* SPDX-License-Identifier: Apache-2.0 OR MIT */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"

char *fd_proc_path(int fd, char buf[static PROC_FD_PATH_MAX]) {
        (void) snprintf(buf, PROC_FD_PATH_MAX, "/proc/self/fd/%i", fd);
        return buf;
}

int fd_check_readable(int fd) {
        int fl;

        if (fd < 0)
                return -EBADF;
        fl = fcntl(fd, F_GETFL);
        /*
         * Access mode 3 (O_ACCMODE itself) opens for ioctl only: the kernel
         * checked read and write permission, but the description cannot be
         * read or mapped. Only O_RDONLY and O_RDWR are readable.
         */
        if (fl < 0 || (fl & O_PATH) || ((fl & O_ACCMODE) != O_RDONLY && (fl & O_ACCMODE) != O_RDWR))
                return -EBADF;
        return 0;
}

int fd_reopen(int fd, int flags) {
        char path[PROC_FD_PATH_MAX];
        int r;

        if (fd < 0)
                return -EBADF;
        r = open(fd_proc_path(fd, path), flags | O_CLOEXEC | O_NOCTTY);
        return r < 0 ? negative_errno() : r;
}

int fd_reopen_rdonly(int fd) {
        return fd_reopen(fd, O_RDONLY | O_NONBLOCK);
}

int loop_write(int fd, const void *data, size_t size) {
        const uint8_t *p = data;

        while (size > 0) {
                ssize_t k = write(fd, p, size);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                /* A non-blocking descriptor somebody handed us (stdout, say): wait for room. */
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
                size -= (size_t) k;
        }
        return 0;
}

int fd_send(int sock, const void *data, size_t size, const int *fds, size_t n_fds) {
        union {
                struct cmsghdr cmsg;
                uint8_t buf[CMSG_SPACE(sizeof(int) * FD_SEND_MAX)];
        } control = {};
        struct iovec iov = { .iov_base = (void *) data, .iov_len = size };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (n_fds > FD_SEND_MAX)
                return -EINVAL;
        if (n_fds > 0) {
                struct cmsghdr *c;

                mh.msg_control = &control;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }

        do
                n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return negative_errno();
        if ((size_t) n != size)
                return -EPROTO;
        return 0;
}

static void dispose_all(const int *fds, size_t n, fd_dispose_t dispose, void *userdata) {
        for (size_t i = 0; i < n; i++) {
                if (dispose)
                        dispose(fds[i], userdata);
                else
                        safe_close(fds[i]);
        }
}

ssize_t fd_receive_request(int sock, void *buf, size_t size, int *fds, size_t max_fds, size_t *ret_n_fds,
                           fd_dispose_t dispose, void *userdata) {
        /*
         * Room for the most descriptors a message can carry, and for
         * credentials besides: a peer's SCM_CREDENTIALS next to a full load
         * is then seen for what it is, and never truncates the descriptors.
         */
        union {
                struct cmsghdr cmsg;
                uint8_t buf[CMSG_SPACE(sizeof(int) * FD_RECEIVE_MAX) + CMSG_SPACE(sizeof(struct ucred))];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        int got[FD_RECEIVE_MAX];
        size_t n_got = 0;
        bool odd = false;
        ssize_t n;

        do
                n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return negative_errno();

        /*
         * Every descriptor that arrived is in our table now, also with
         * MSG_CTRUNC (the kernel installs what fits and drops the rest): all
         * are collected before anything is decided, so that none can leak.
         */
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                size_t k;

                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
                        odd = true;
                        continue;
                }
                k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k && n_got < FD_RECEIVE_MAX; i++)
                        memcpy(&got[n_got++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        }

        /* Truncated control data means descriptors were dropped unseen: no well-behaved peer sends that. */
        if ((mh.msg_flags & MSG_CTRUNC) || odd || n_got > max_fds) {
                dispose_all(got, n_got, dispose, userdata);
                return -EPROTO;
        }
        if ((mh.msg_flags & MSG_TRUNC) || (n == 0 && n_got > 0)) {
                dispose_all(got, n_got, dispose, userdata);
                return -EBADMSG;
        }
        if (n_got > 0)
                memcpy(fds, got, sizeof(int) * n_got);
        *ret_n_fds = n_got;
        return n;
}

ssize_t fd_receive(int sock, void *buf, size_t size, int *fds, size_t max_fds, size_t *ret_n_fds,
                   fd_dispose_t dispose, void *userdata) {
        ssize_t n = fd_receive_request(sock, buf, size, fds, max_fds, ret_n_fds, dispose, userdata);

        return n == -EBADMSG ? -EPROTO : n;
}
