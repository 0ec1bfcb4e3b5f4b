/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * A client that speaks to safe-mmapd byte by byte, without the library's
 * checks, so that tests can send what no well-behaved client would (broken
 * packets, stray descriptors) and see every field and flag of the reply.
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fd-util.h"
#include "proto.h"

/* Room for any reply plus one byte, so that an oversized one shows as such. */
#define RAW_BUFFER_SIZE (PROTO_MESSAGE_MAX + 1)
/* At most this many descriptors are taken from one packet; more is -EPROTO. */
#define RAW_MAX_FDS 8
/* Most descriptors one packet may carry (the kernel's SCM_MAX_FD). */
#define RAW_SEND_MAX_FDS FD_SEND_MAX

/* A close-on-exec SOCK_SEQPACKET socket connected to @path, without any peer check. */
int raw_connect(const char *path, int *ret_fd);
/* One packet with @n_fds (<= RAW_SEND_MAX_FDS) descriptors attached; 0, or -errno (-EPIPE/-ECONNRESET: dropped). */
int raw_send(int sock, const void *buf, size_t len, const int *fds, size_t n_fds);
/* One packet with our SCM_CREDENTIALS attached, a control message no request carries. */
int raw_send_credentials(int sock, const void *buf, size_t len);
/*
 * Waits up to @timeout_ms for one packet. Returns its length (0 at EOF,
 * which also covers ECONNRESET) and the descriptors that came with it
 * (close-on-exec; the caller closes them, or they are closed when
 * @ret_fds is NULL), or -ETIMEDOUT, -EPROTO if truncated or with more than
 * RAW_MAX_FDS descriptors (all closed), -errno.
 */
ssize_t raw_recv(int sock, void *buf, size_t size, int timeout_ms,
                 int ret_fds[RAW_MAX_FDS], size_t *ret_n_fds);

/*
 * Encodes @req, sends it (with @send_fd when >= 0), waits for the reply and
 * decodes it. The reply's descriptor, if any, goes to *ret_fd (which may be
 * NULL only when none is expected). Returns 0, -ECONNRESET if the daemon
 * dropped the connection, -ETIMEDOUT, -EPROTO for an undecodable reply or
 * a reply with more than one descriptor (all closed), -errno.
 */
int raw_request(int sock, const ProtoRequest *req, int send_fd, int timeout_ms,
                ProtoReply *ret_reply, int *ret_fd);
int raw_status(int sock, int timeout_ms, ProtoReply *ret_reply);
int raw_snapshot_fd(int sock, int file_fd, uint64_t max_size, int timeout_ms,
                    ProtoReply *ret_reply, int *ret_fd);
int raw_snapshot_path(int sock, const char *path, uint64_t max_size, int timeout_ms,
                      ProtoReply *ret_reply, int *ret_fd);

/* Fresh connection + one request; for callers that need one answer only. */
int raw_oneshot_path(const char *socket_path, const char *path, uint64_t max_size,
                     ProtoReply *ret_reply, int *ret_fd);
int raw_oneshot_fd(const char *socket_path, int file_fd, uint64_t max_size,
                   ProtoReply *ret_reply, int *ret_fd);

typedef enum RawVerdict {
        RAW_REPLIED = 1,        /* an (error) reply arrived; *ret_reply is filled */
        RAW_DROPPED = 0,        /* EOF or reset without a reply */
} RawVerdict;

/*
 * After sending something hostile: what did the daemon do? Returns
 * RAW_REPLIED or RAW_DROPPED; -ETIMEDOUT if it did neither, -EPROTO if it
 * replied with something undecodable or attached a descriptor (closed).
 */
int raw_verdict(int sock, int timeout_ms, ProtoReply *ret_reply);
