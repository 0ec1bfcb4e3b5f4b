/* SPDX-License-Identifier: Apache-2.0 OR MIT */

#include <errno.h>

#include "status.h"
#include "macro.h"
#include "transport.h"

const char *status_socket_path(void) {
        return transport_socket_path();
}

static int status_fail(int outcome, int cause, int *ret_cause) {
        if (ret_cause)
                *ret_cause = cause;
        return outcome;
}

int status_query(StatusReport *ret, int *ret_cause) {
        _cleanup_close_ int sock = -EBADF, fd = -EBADF;
        ProtoRequest req = { .type = PROTO_REQUEST_STATUS };
        ProtoReply reply;
        int r;

        r = transport_connect(NULL, &sock);
        if (r == -EPERM)
                return status_fail(-EPERM, r, ret_cause);
        if (r < 0)
                return status_fail(-ECONNREFUSED, r, ret_cause);

        r = transport_call(sock, &req, -EBADF, &reply, &fd);
        if (r < 0)
                return status_fail(-EPROTO, r, ret_cause);
        if (reply.status < 0)
                return status_fail(-EREMOTEIO, reply.status, ret_cause);

        *ret = (StatusReport) {
                .connections = reply.connections,
                .served = reply.served,
                .bytes_held = reply.bytes_held,
                .cache_entries = reply.cache_entries,
                .uptime_usec = reply.uptime_usec,
        };
        if (ret_cause)
                *ret_cause = 0;
        return 0;
}
