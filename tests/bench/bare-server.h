/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * The floor a daemon's answer is measured against: a server that does only
 * what passing a snapshot cannot do without. It accepts, receives one
 * request (closing the descriptor that came with it), decodes it, and passes
 * back a sealed memfd made once before it started. It speaks the real
 * protocol, so the library talks to it exactly as to safe-mmapd (connection
 * per request or kept, whatever the library does), and the client still
 * verifies and maps what it gets: the difference between the two is what
 * the daemon itself costs.
 */

#include <sys/types.h>

/*
 * Binds @socket_path and forks the server, which serves @memfd (a sealed,
 * read-only memfd) to every snapshot request until it is killed; it dies
 * with the calling process. The socket accepts connections when this
 * returns. Returns 0 and the server's pid, or -errno.
 */
int bare_server_start(const char *socket_path, int memfd, pid_t *ret_pid);
/* SIGKILL and reap. */
void bare_server_stop(pid_t pid);
