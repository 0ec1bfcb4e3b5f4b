/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bare-server.h"
#include "macro.h"
#include "proto.h"

#define BARE_EVENTS 64
#define BARE_FDS_MAX 4

static int bare_reply(int conn, const ProtoRequest *req, int memfd, uint64_t size) {
        union {
                struct cmsghdr cmsg;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        uint8_t buf[PROTO_REPLY_STATUS_SIZE];
        ProtoReply reply = { .status = 0 };
        struct iovec iov = { .iov_base = buf };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        int n;

        if (req->type == PROTO_REQUEST_STATUS) {
                reply.type = PROTO_REPLY_STATUS;
        } else {
                struct cmsghdr *c;

                reply.type = PROTO_REPLY_SNAPSHOT;
                reply.kind = PROTO_KIND_SEALED_MEMFD;
                reply.size = size;
                mh.msg_control = &control;
                mh.msg_controllen = sizeof(control);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &memfd, sizeof(int));
        }
        n = proto_reply_encode(&reply, buf, sizeof(buf));
        if (n < 0)
                return n;
        iov.iov_len = (size_t) n;
        if (sendmsg(conn, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
                return negative_errno();
        return 0;
}

/* One request of @conn; a negative return drops the connection. */
static int bare_serve(int conn, int memfd, uint64_t size) {
        union {
                struct cmsghdr cmsg;
                uint8_t buf[CMSG_SPACE(sizeof(int) * BARE_FDS_MAX)];
        } control;
        uint8_t buf[PROTO_MESSAGE_MAX + 1];
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        ProtoRequest req;
        ssize_t n;

        n = recvmsg(conn, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0)
                return errno == EAGAIN ? 0 : negative_errno();
        /* The client's file is not needed: the answer is ready. */
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                        for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                                int fd;

                                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                                safe_close(fd);
                        }
        if (n == 0)
                return -ECONNRESET;
        if (proto_request_decode(buf, (size_t) n, &req) < 0)
                return -EBADMSG;
        return bare_reply(conn, &req, memfd, size);
}

static _noreturn_ void bare_run(int listener, int memfd, uint64_t size) {
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = listener };
        int ep;

        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) < 0)
                _exit(1);
        for (;;) {
                struct epoll_event events[BARE_EVENTS];
                int n = epoll_wait(ep, events, BARE_EVENTS, -1);

                if (n < 0 && errno != EINTR)
                        _exit(1);
                for (int i = 0; i < n; i++) {
                        int fd = events[i].data.fd;

                        if (fd != listener) {
                                /* close() also takes the descriptor out of the epoll set. */
                                if (bare_serve(fd, memfd, size) < 0 || (events[i].events & (EPOLLHUP | EPOLLERR)))
                                        safe_close(fd);
                                continue;
                        }
                        for (;;) {
                                int conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                                struct epoll_event cev = { .events = EPOLLIN, .data.fd = -1 };

                                if (conn < 0)
                                        break;
                                cev.data.fd = conn;
                                if (epoll_ctl(ep, EPOLL_CTL_ADD, conn, &cev) < 0)
                                        safe_close(conn);
                        }
                }
        }
}

int bare_server_start(const char *socket_path, int memfd, pid_t *ret_pid) {
        _cleanup_close_ int listener = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(socket_path);
        pid_t parent = getpid(), pid;
        struct stat st;

        if (len >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        if (fstat(memfd, &st) < 0)
                return negative_errno();
        memcpy(sa.sun_path, socket_path, len);
        listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (listener < 0)
                return negative_errno();
        (void) unlink(socket_path);
        if (bind(listener, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(listener, SOMAXCONN) < 0)
                return negative_errno();

        pid = fork();
        if (pid < 0)
                return negative_errno();
        if (pid == 0) {
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(1);
                (void) signal(SIGPIPE, SIG_IGN);
                bare_run(listener, memfd, (uint64_t) st.st_size);
        }
        *ret_pid = pid;
        return 0;
}

void bare_server_stop(pid_t pid) {
        if (pid <= 0)
                return;
        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
}
