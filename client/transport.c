/* SPDX-License-Identifier: Apache-2.0 OR MIT */

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "fd-util.h"
#include "macro.h"
#include "transport.h"

/* A valid reply carries at most one descriptor; fd_receive() closes every one of a reply with more. */
#define TRANSPORT_FDS_MAX 1

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

/* The kernel's errors of a conversation, as transport_call() promises them. */
static int transport_errno(int r) {
        if (r == -EAGAIN)
                return -ETIMEDOUT;
        if (r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN)
                return -ECONNRESET;
        return r;
}

/*
 * Receives the daemon's reply to a request of @type. A refusal for a limit
 * is decided when the daemon accepts the connection, before it knows what
 * will be asked: it is a snapshot reply with an error status, whatever the
 * request.
 */
static int transport_receive(int sock, enum proto_type type, ProtoReply *ret_reply, int *ret_fd) {
        uint8_t buf[PROTO_MESSAGE_MAX + 1];
        int fds[TRANSPORT_FDS_MAX];
        size_t nfds = 0;
        ssize_t n;
        ProtoReply reply;
        enum proto_type expect;
        bool refusal;
        int r;

        n = fd_receive(sock, buf, sizeof(buf), fds, TRANSPORT_FDS_MAX, &nfds, NULL, NULL);
        if (n < 0)
                return transport_errno((int) n);
        if (n == 0) /* the daemon hung up without answering */
                return -ECONNRESET;

        expect = type == PROTO_REQUEST_STATUS ? PROTO_REPLY_STATUS : PROTO_REPLY_SNAPSHOT;
        r = proto_reply_decode(buf, (size_t) n, &reply);
        refusal = r >= 0 && reply.type == PROTO_REPLY_SNAPSHOT && reply.status < 0 && nfds == 0;
        if (!refusal && (r < 0 || reply.type != expect ||
                         nfds != (reply.type == PROTO_REPLY_SNAPSHOT && reply.status == 0 ? 1u : 0u))) {
                if (nfds > 0)
                        safe_close(fds[0]);
                return -EPROTO;
        }

        *ret_reply = reply;
        if (ret_fd)
                *ret_fd = nfds > 0 ? fds[0] : -EBADF;
        else if (nfds > 0)
                safe_close(fds[0]);
        return 0;
}

int transport_call(int sock, const ProtoRequest *req, int send_fd, ProtoReply *ret_reply, int *ret_fd) {
        uint8_t buf[PROTO_MESSAGE_MAX + 1];
        int r;

        r = proto_request_encode(req, buf, sizeof(buf));
        if (r < 0)
                return r;
        r = fd_send(sock, buf, (size_t) r, &send_fd, send_fd >= 0 ? 1 : 0);
        if (r == -EPIPE || r == -ECONNRESET) {
                /*
                 * Refused before the request went out: the daemon replied
                 * first, then shut the socket down. The reply is still
                 * queued, and says which limit; without one, the daemon
                 * hung up.
                 */
                ProtoReply reply;

                if (transport_receive(sock, req->type, &reply, NULL) == 0 && reply.status < 0) {
                        *ret_reply = reply;
                        if (ret_fd)
                                *ret_fd = -EBADF;
                        return 0;
                }
        }
        if (r < 0)
                return transport_errno(r);
        return transport_receive(sock, req->type, ret_reply, ret_fd);
}
