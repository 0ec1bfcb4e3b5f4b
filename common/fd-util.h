/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * Descriptor helpers shared by safe-mmapd, libsafe-mmap and the tool: the
 * readable-descriptor check, reopening through /proc/self/fd, the write loop,
 * and sending and receiving descriptors over a unix socket. Every function
 * returns 0 (or a descriptor, or a count) on success and the kernel's -errno
 * on failure; callers translate to their own documented errors.
 */

#include <stddef.h>
#include <sys/types.h>

/* "/proc/self/fd/" and the longest int, with its sign, and the NUL. */
#define PROC_FD_PATH_MAX (sizeof("/proc/self/fd/") + sizeof("-2147483648") - 1)

/* Writes "/proc/self/fd/@fd" into @buf (PROC_FD_PATH_MAX bytes) and returns @buf. */
char *fd_proc_path(int fd, char buf[static PROC_FD_PATH_MAX]);

/*
 * Whether @fd can be read: open (-EBADF otherwise), not O_PATH (it only proves
 * that somebody may search the directory, and cannot be read), and open
 * O_RDONLY or O_RDWR (not write-only, nor access mode 3, which is for ioctl
 * only). Returns 0 or -EBADF, never anything else.
 */
int fd_check_readable(int fd);

/*
 * A new close-on-exec, O_NOCTTY open file description of the file behind @fd
 * with @flags (O_RDONLY, O_PATH, ...), through /proc/self/fd: -ENOENT
 * without /proc.
 */
int fd_reopen(int fd, int flags);
/*
 * fd_reopen(@fd, O_RDONLY | O_NONBLOCK): the open never waits for somebody
 * else's lease to be broken (-EWOULDBLOCK instead).
 */
int fd_reopen_rdonly(int fd);

/*
 * write() until all @size bytes of @data are written, retrying EINTR and short
 * writes, and waiting (poll()) where a non-blocking descriptor says EAGAIN:
 * not for a descriptor of an event loop.
 */
int loop_write(int fd, const void *data, size_t size);

/*
 * The most descriptors one message can carry: the kernel's SCM_MAX_FD.
 * fd_receive() always has room for that many, because descriptors that do
 * not fit the control buffer are closed by the kernel in the receiving
 * process, where a file on a FUSE mount or a lingering socket can block that
 * close for as long as the sender likes.
 */
#define FD_RECEIVE_MAX 253
#define FD_SEND_MAX FD_RECEIVE_MAX

/*
 * Sends @size bytes of @data as one message on @sock, with the @n_fds
 * descriptors in @fds attached (SCM_RIGHTS) when @n_fds > 0, with
 * MSG_NOSIGNAL. A message sent in part is -EPROTO. At most FD_SEND_MAX
 * descriptors (-EINVAL).
 */
int fd_send(int sock, const void *data, size_t size, const int *fds, size_t n_fds);

/*
 * What to do with a descriptor that arrived but is not handed to the caller:
 * close it (NULL), or anything else the caller needs (a daemon's event loop
 * must never block on close(), so it may hand them to another thread).
 */
typedef void (*fd_dispose_t)(int fd, void *userdata);

/*
 * Receives one message on @sock into @buf (@size bytes) with MSG_CMSG_CLOEXEC,
 * and the descriptors that came with it into @fds (room for @max_fds, at most
 * FD_RECEIVE_MAX). Returns the message length (0: the peer hung up, and
 * nothing came with it) with *ret_n_fds set, or a negative errno with every
 * descriptor that arrived disposed of (@dispose, or close() when NULL):
 *   -EPROTO      the message or its control data was truncated (MSG_TRUNC,
 *                MSG_CTRUNC), control data other than SCM_RIGHTS came, more
 *                than @max_fds descriptors came, or descriptors came with an
 *                empty message
 *   other        recvmsg()'s errno (-EAGAIN on a timeout, or when nothing
 *                waits on a non-blocking socket)
 * On success the caller owns exactly fds[0 .. *ret_n_fds).
 */
ssize_t fd_receive(int sock, void *buf, size_t size, int *fds, size_t max_fds, size_t *ret_n_fds,
                   fd_dispose_t dispose, void *userdata);

/*
 * fd_receive() for a server, which answers a malformed request before it
 * hangs up but drops a peer whose control data it cannot trust: the same,
 * except that a truncated message (MSG_TRUNC) or descriptors with an empty
 * message is -EBADMSG. -EPROTO stays for control data that was truncated,
 * was not SCM_RIGHTS, or carried more than @max_fds descriptors.
 */
ssize_t fd_receive_request(int sock, void *buf, size_t size, int *fds, size_t max_fds, size_t *ret_n_fds,
                           fd_dispose_t dispose, void *userdata);
