/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"
#include "raw-client.h"

int raw_connect(const char *path, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return negative_errno();
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int send_msg(int sock, const struct msghdr *mh, size_t len) {
        for (;;) {
                ssize_t n = sendmsg(sock, mh, MSG_NOSIGNAL);
                if (n >= 0)
                        return (size_t) n == len ? 0 : -EIO;
                if (errno != EINTR)
                        return negative_errno();
        }
}

int raw_send_credentials(int sock, const void *buf, size_t len) {
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(struct ucred))];
        } control = {};
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1,
                .msg_control = control.buf, .msg_controllen = sizeof(control.buf),
        };
        struct ucred cred = { .pid = getpid(), .uid = getuid(), .gid = getgid() };
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_CREDENTIALS;
        c->cmsg_len = CMSG_LEN(sizeof(cred));
        memcpy(CMSG_DATA(c), &cred, sizeof(cred));
        return send_msg(sock, &mh, len);
}

int raw_send(int sock, const void *buf, size_t len, const int *fds, size_t n_fds) {
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(int) * RAW_SEND_MAX_FDS)];
        } control = {};
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (n_fds > RAW_SEND_MAX_FDS)
                return -EINVAL;
        if (n_fds > 0) {
                struct cmsghdr *c;

                mh.msg_control = control.buf;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }
        return send_msg(sock, &mh, len);
}

ssize_t raw_recv(int sock, void *buf, size_t size, int timeout_ms,
                 int ret_fds[RAW_MAX_FDS], size_t *ret_n_fds) {
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(int) * RAW_MAX_FDS)];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1,
                .msg_control = control.buf, .msg_controllen = sizeof(control.buf),
        };
        struct pollfd p = { .fd = sock, .events = POLLIN };
        size_t n_fds = 0;
        ssize_t n;
        int r;

        do
                r = poll(&p, 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return negative_errno();
        if (r == 0)
                return -ETIMEDOUT;

        do
                n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == ECONNRESET ? 0 : negative_errno();

        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                int fds[RAW_MAX_FDS];
                memcpy(fds, CMSG_DATA(c), k * sizeof(int));
                for (size_t i = 0; i < k; i++) {
                        if (ret_fds && n_fds < RAW_MAX_FDS)
                                ret_fds[n_fds++] = fds[i];
                        else
                                safe_close(fds[i]);
                }
        }
        if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
                for (size_t i = 0; i < n_fds; i++)
                        safe_close(ret_fds[i]);
                return -EMSGSIZE;
        }
        if (ret_n_fds)
                *ret_n_fds = n_fds;
        else
                for (size_t i = 0; i < n_fds; i++)
                        safe_close(ret_fds[i]);
        return n;
}

/* Receives and decodes one reply; keeps at most one descriptor. */
static int recv_reply(int sock, int timeout_ms, ProtoReply *ret_reply, int *ret_fd) {
        uint8_t buf[RAW_BUFFER_SIZE];
        int fds[RAW_MAX_FDS];
        size_t n_fds = 0;
        ProtoReply reply;
        ssize_t n;
        int r;

        n = raw_recv(sock, buf, sizeof(buf), timeout_ms, fds, &n_fds);
        if (n < 0)
                return (int) n == -EMSGSIZE ? -EPROTO : (int) n;
        if (n == 0)
                return -ECONNRESET;

        r = proto_reply_decode(buf, (size_t) n, &reply);
        if (r < 0 || n_fds > 1 || (n_fds == 1 && !ret_fd)) {
                for (size_t i = 0; i < n_fds; i++)
                        safe_close(fds[i]);
                return -EPROTO;
        }
        if (ret_fd)
                *ret_fd = n_fds == 1 ? fds[0] : -EBADF;
        *ret_reply = reply;
        return 0;
}

int raw_request(int sock, const ProtoRequest *req, int send_fd, int timeout_ms,
                ProtoReply *ret_reply, int *ret_fd) {
        uint8_t buf[RAW_BUFFER_SIZE];
        int len, r;

        len = proto_request_encode(req, buf, sizeof(buf));
        if (len < 0)
                return len;
        r = raw_send(sock, buf, (size_t) len, &send_fd, send_fd >= 0 ? 1 : 0);
        if (r == -EPIPE)
                return -ECONNRESET;
        if (r < 0)
                return r;
        return recv_reply(sock, timeout_ms, ret_reply, ret_fd);
}

int raw_status(int sock, int timeout_ms, ProtoReply *ret_reply) {
        ProtoRequest req = { .type = PROTO_REQUEST_STATUS };

        return raw_request(sock, &req, -EBADF, timeout_ms, ret_reply, NULL);
}

int raw_snapshot_fd(int sock, int file_fd, uint64_t max_size, int timeout_ms,
                    ProtoReply *ret_reply, int *ret_fd) {
        ProtoRequest req = { .type = PROTO_REQUEST_SNAPSHOT_FD, .max_size = max_size };

        return raw_request(sock, &req, file_fd, timeout_ms, ret_reply, ret_fd);
}

int raw_snapshot_path(int sock, const char *path, uint64_t max_size, int timeout_ms,
                      ProtoReply *ret_reply, int *ret_fd) {
        ProtoRequest req = {
                .type = PROTO_REQUEST_SNAPSHOT_PATH,
                .max_size = max_size,
                .path = path,
                .path_length = (uint32_t) strlen(path),
        };

        return raw_request(sock, &req, -EBADF, timeout_ms, ret_reply, ret_fd);
}

int raw_oneshot_path(const char *socket_path, const char *path, uint64_t max_size,
                     ProtoReply *ret_reply, int *ret_fd) {
        _cleanup_close_ int sock = -EBADF;
        int r;

        r = raw_connect(socket_path, &sock);
        if (r < 0)
                return r;
        return raw_snapshot_path(sock, path, max_size, 30000, ret_reply, ret_fd);
}

int raw_oneshot_fd(const char *socket_path, int file_fd, uint64_t max_size,
                   ProtoReply *ret_reply, int *ret_fd) {
        _cleanup_close_ int sock = -EBADF;
        int r;

        r = raw_connect(socket_path, &sock);
        if (r < 0)
                return r;
        return raw_snapshot_fd(sock, file_fd, max_size, 30000, ret_reply, ret_fd);
}

int raw_verdict(int sock, int timeout_ms, ProtoReply *ret_reply) {
        int fd = -EBADF, r;

        r = recv_reply(sock, timeout_ms, ret_reply, &fd);
        if (r == -ECONNRESET)
                return RAW_DROPPED;
        if (r < 0)
                return r;
        if (fd >= 0) {
                safe_close(fd);
                return -EPROTO;
        }
        return RAW_REPLIED;
}
