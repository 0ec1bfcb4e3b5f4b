/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/* Where the daemon's listening sockets come from, and who is on the other end. */

#include <stddef.h>
#include <sys/types.h>

/*
 * Binds and listens on a SOCK_SEQPACKET socket at @path, mode 0666. A stale
 * socket (connect gives ECONNREFUSED) is replaced; a live one, or anything
 * that is not a socket, gives -EADDRINUSE.
 */
int listen_unix_path(const char *path, int *ret_fd);

/*
 * The listening AF_UNIX SOCK_SEQPACKET sockets systemd passed (made
 * non-blocking); anything else passed is closed and logged.
 */
int listen_systemd(int **ret_fds, unsigned *ret_n);

/* The peer's supplementary groups (SO_PEERGROUPS) followed by @primary. */
int socket_peer_groups(int fd, gid_t primary, gid_t **ret, size_t *ret_n);
