/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * The client side of a conversation with safe-mmapd: connect, send one
 * request (optionally with one descriptor), receive one reply (with at most
 * one descriptor). Used by libsafe-mmap and by status.c (the tool's status).
 */

#include <stdint.h>

#include "proto.h"

/* How long a client waits for the daemon before giving up (send and receive). */
#define TRANSPORT_TIMEOUT_USEC (30u * 1000u * 1000u)

/* $SAFE_MMAP_SOCKET when set and non-empty (secure_getenv), else the built-in default. */
const char *transport_socket_path(void);

/*
 * Connects a SOCK_SEQPACKET socket to @path (NULL: transport_socket_path()).
 * The peer must be root or the caller's own uid (SO_PEERCRED), else -EPERM.
 * Returns 0 and the close-on-exec socket in *ret_fd, or the connect error
 * (-ENOENT, -ECONNREFUSED, -EACCES, -ENOTSOCK, ...).
 */
int transport_connect(const char *path, int *ret_fd);

/*
 * Sends @req (with @send_fd attached when >= 0) and waits for the reply.
 * Received descriptors are close-on-exec. A reply with status 0 to a snapshot
 * request must carry exactly one descriptor, returned in *ret_fd; any other
 * reply must carry none. Returns 0 with *ret_reply filled, or:
 *   -ECONNRESET  the daemon closed the connection without a reply
 *   -ETIMEDOUT   no reply within TRANSPORT_TIMEOUT_USEC
 *   -EPROTO      truncated message or control data, wrong descriptor count,
 *                undecodable reply, or a reply of the wrong type
 *   other negative errno from sendmsg()/recvmsg()
 * No descriptor is leaked on any path.
 */
int transport_call(int sock, const ProtoRequest *req, int send_fd, ProtoReply *ret_reply, int *ret_fd);
