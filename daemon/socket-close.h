/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * The event loop's last resort for a client's socket it cannot hand to a
 * worker (out of memory, or a uid whose closes are stuck and who keeps
 * connecting). Closing a socket never flushes what is queued on it: the
 * descriptors a client queued are only released, and what can wait in a
 * release (a TCP socket lingering on unsent data) waits interruptibly. So
 * the close runs with a timer that signals this thread after
 * SOCKET_CLOSE_INTERRUPT_USEC, which ends any such wait: the loop loses at
 * most that much per socket. (A FUSE FLUSH, which no signal ends, happens
 * only when a descriptor in our own table is closed; received descriptors
 * are always closed by workers.)
 */

#define SOCKET_CLOSE_INTERRUPT_USEC 1000u

/* Before the sandbox, on the event loop's thread: the signal handler and this thread's timer. */
int socket_close_init(void);

/* The event loop's thread only: shuts @fd down and closes it, waiting at most SOCKET_CLOSE_INTERRUPT_USEC. */
void socket_close_bounded(int fd);
