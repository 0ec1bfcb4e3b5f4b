/* SPDX-License-Identifier: Apache-2.0 OR MIT */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "macro.h"
#include "transport.h"

/* Room for more descriptors than any valid reply carries, so that extra ones are seen and closed, not cut off silently. */
#define TRANSPORT_FDS_MAX 4

const char *transport_socket_path(void) {
        const char *e;

        e = secure_getenv("SAFE_MMAP_SOCKET");
        return e && *e ? e : SAFE_MMAP_SOCKET_DEFAULT;
}

static int transport_set_timeouts(int fd) {
        struct timeval tv = {
                .tv_sec = TRANSPORT_TIMEOUT_USEC / 1000000u,
                .tv_usec = TRANSPORT_TIMEOUT_USEC % 1000000u,
        };

        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
                return -errno;
        return 0;
}

/*
 * The daemon hands us descriptors we will map and trust once verified; the
 * verification does not depend on who sent them, but a socket planted by
 * another user (a world-writable directory in $SAFE_MMAP_SOCKET, a stale
 * path) must not even get to see our requests and the files we pass.
 */
static int transport_check_peer(int fd) {
        struct ucred cred;
        socklen_t len = sizeof(cred);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        if (len != sizeof(cred))
                return -EPERM;
        if (cred.uid != 0 && cred.uid != getuid() && cred.uid != geteuid())
                return -EPERM;
        return 0;
}

int transport_connect(const char *path, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len;
        int r;

        if (!path)
                path = transport_socket_path();
        len = strlen(path);
        if (len == 0)
                return -EINVAL;
        if (len >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, len);

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* Before connect(): a full backlog makes connect() wait up to the send timeout, not for ever. */
        r = transport_set_timeouts(fd);
        if (r < 0)
                return r;
        if (connect(fd, (struct sockaddr *) &sa, (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len)) < 0)
                return errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
        r = transport_check_peer(fd);
        if (r < 0)
                return r;

        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int transport_send(int sock, const uint8_t *buf, size_t len, int send_fd) {
        union {
                struct cmsghdr cmsg;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (send_fd >= 0) {
                struct cmsghdr *c;

                mh.msg_control = &control;
                mh.msg_controllen = sizeof(control);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &send_fd, sizeof(int));
        }

        do
                n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                if (errno == EAGAIN)
                        return -ETIMEDOUT;
                if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)
                        return -ECONNRESET;
                return -errno;
        }
        if ((size_t) n != len)
                return -EPROTO;
        return 0;
}

/* Closes every descriptor in fds[0..n). */
static void close_many(const int *fds, size_t n) {
        for (size_t i = 0; i < n; i++)
                safe_close(fds[i]);
}

/*
 * Receives one reply. Every descriptor that arrives is collected first and
 * closed on any failure, including the ones that came with a truncated
 * message: with MSG_CTRUNC the kernel installs what fits into our table and
 * drops the rest, so what fit must still be closed.
 */
static int transport_receive(int sock, uint8_t *buf, size_t buf_size, size_t *ret_len, int *fds, size_t *ret_nfds) {
        union {
                struct cmsghdr cmsg;
                uint8_t buf[CMSG_SPACE(sizeof(int) * TRANSPORT_FDS_MAX)];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = buf_size };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        size_t nfds = 0;
        ssize_t n;

        do
                n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                if (errno == EAGAIN)
                        return -ETIMEDOUT;
                if (errno == ECONNRESET || errno == ENOTCONN || errno == EPIPE)
                        return -ECONNRESET;
                return -errno;
        }

        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                size_t k;

                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k && nfds < TRANSPORT_FDS_MAX; i++)
                        memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        }

        if (n == 0) { /* the daemon hung up without answering */
                close_many(fds, nfds);
                return -ECONNRESET;
        }
        if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
                close_many(fds, nfds);
                return -EPROTO;
        }
        *ret_len = (size_t) n;
        *ret_nfds = nfds;
        return 0;
}

int transport_call(int sock, const ProtoRequest *req, int send_fd, ProtoReply *ret_reply, int *ret_fd) {
        uint8_t buf[PROTO_MESSAGE_MAX + 1];
        int fds[TRANSPORT_FDS_MAX];
        size_t len = 0, nfds = 0;
        ProtoReply reply;
        enum proto_type expect;
        int r;

        r = proto_request_encode(req, buf, sizeof(buf));
        if (r < 0)
                return r;
        r = transport_send(sock, buf, (size_t) r, send_fd);
        if (r < 0)
                return r;

        r = transport_receive(sock, buf, sizeof(buf), &len, fds, &nfds);
        if (r < 0)
                return r;

        expect = req->type == PROTO_REQUEST_STATUS ? PROTO_REPLY_STATUS : PROTO_REPLY_SNAPSHOT;
        r = proto_reply_decode(buf, len, &reply);
        if (r < 0 || reply.type != expect ||
            nfds != (reply.type == PROTO_REPLY_SNAPSHOT && reply.status == 0 ? 1u : 0u)) {
                close_many(fds, nfds);
                return -EPROTO;
        }

        *ret_reply = reply;
        if (ret_fd)
                *ret_fd = nfds > 0 ? fds[0] : -EBADF;
        else
                close_many(fds, nfds);
        return 0;
}
