/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * Turning what a client asked for into a descriptor the daemon may copy:
 * either the client's own descriptor (access was checked by the kernel when
 * the client opened it) or a path beneath a grant root. Both end in a fresh
 * O_RDONLY open of a regular file, made by the daemon, so that FIFOs and
 * devices are never opened for real and never block.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/*
 * A file resolved once, classified once: everything the copy step needs to
 * know about it. Resolving is two steps: the checks (type, file system, who
 * may ask), which leave @fd closed, then the open for reading. The event loop
 * may make the checks for a file that cannot stall (fastpath.c) and hand the
 * checked source to a worker, which then only opens it. Owned by whoever
 * holds the job it belongs to.
 */
typedef struct Source {
        /* The daemon's own O_RDONLY description, or (borrowed) a duplicate of the client's; -EBADF until opened. */
        int fd;
        struct statx stx;
        /* The checks passed: stx is the file's, and it may be served. */
        bool checked;
        /* Its file system is one whose fs-verity the client library accepts. */
        bool verity_capable;
        bool borrowed;
        /* Protected by fs-verity on a filesystem the client library accepts it from: served as is (set when opened). */
        bool verity;
} Source;

#define SOURCE_NULL ((Source) { .fd = -EBADF })

/* Closes the source's descriptor (on a worker: it may be the client's description). */
void source_done(Source *s);

/* Whether a checked source would be served as fs-verity (unless it ends up borrowed). */
bool source_may_be_verity(const Source *s);

/* Fresh O_RDONLY|O_NONBLOCK|O_NOCTTY|O_CLOEXEC description of the file behind @fd, via /proc/self/fd. */
int resolve_reopen(int fd, int *ret_fd);
/* Opens /proc/self/fd for resolve_reopen() (before the sandbox, before any thread); without it, it still works. */
int resolve_setup(void);

/*
 * Validates a descriptor a client sent: -EBADF for O_PATH or write-only
 * descriptors, -EISDIR for directories, -EINVAL for anything but a regular
 * file, -EOPNOTSUPP for a file on a synthetic file system (fs_is_synthetic():
 * read by the daemon it would show what root sees; the library copies it
 * itself). Returns the daemon's own O_RDONLY reopen and its statx; for a
 * file the daemon may not open itself (NFS root_squash, an LSM), a duplicate
 * of @client_fd instead, and ret->borrowed is then true.
 */
int resolve_fd(int client_fd, Source *ret);
/* resolve_fd() in its two steps: the checks only (ret->fd stays closed), then the open (or the borrow). */
int resolve_fd_check(int client_fd, Source *ret);
int resolve_fd_open(int client_fd, Source *s);

/*
 * Opens @relative (may be empty: the root itself) beneath @root_fd with
 * openat2() RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS plus @resolve_flags.
 * Escapes give -EXDEV or -ELOOP; symlinks that stay beneath the root are
 * followed unless @resolve_flags has RESOLVE_NO_SYMLINKS; type and file
 * system checks as resolve_fd(). A regular file with more than one link is
 * refused with -EPERM unless root or one of the @n_owners uids in @owners
 * (the grant's Users=) owns it: where fs.protected_hardlinks is 0, anybody
 * may link a file they cannot read into a tree they may write, and the
 * grant would hand it out.
 */
int resolve_path(int root_fd, const char *relative, uint64_t resolve_flags, const uid_t *owners, size_t n_owners,
                 Source *ret);
/*
 * resolve_path() in its two steps: the look-up and the checks, which return
 * the O_PATH descriptor of the file in *@ret_path_fd (ret->fd stays closed),
 * then the open for reading through that descriptor.
 */
int resolve_path_check(int root_fd, const char *relative, uint64_t resolve_flags, const uid_t *owners,
                       size_t n_owners, int *ret_path_fd, Source *ret);
int resolve_path_open(int path_fd, Source *s);
