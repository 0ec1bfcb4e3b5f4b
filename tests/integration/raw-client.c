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

/* Built by hand: fd_send() attaches descriptors only. */
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
        ssize_t n;

        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_CREDENTIALS;
        c->cmsg_len = CMSG_LEN(sizeof(cred));
        memcpy(CMSG_DATA(c), &cred, sizeof(cred));
        do
                n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return negative_errno();
        return (size_t) n == len ? 0 : -EIO;
}

int raw_send(int sock, const void *buf, size_t len, const int *fds, size_t n_fds) {
        return fd_send(sock, buf, len, fds, n_fds);
}

ssize_t raw_recv(int sock, void *buf, size_t size, int timeout_ms,
                 int ret_fds[RAW_MAX_FDS], size_t *ret_n_fds) {
        struct pollfd p = { .fd = sock, .events = POLLIN };
        int fds[RAW_MAX_FDS];
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

        n = fd_receive(sock, buf, size, fds, RAW_MAX_FDS, &n_fds, NULL, NULL);
        if (n == -ECONNRESET)
                return 0;
        if (n < 0)
                return n;
        if (ret_fds && ret_n_fds) {
                memcpy(ret_fds, fds, n_fds * sizeof(int));
                *ret_n_fds = n_fds;
        } else
                for (size_t i = 0; i < n_fds; i++)
                        safe_close(fds[i]);
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
                return (int) n;
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
