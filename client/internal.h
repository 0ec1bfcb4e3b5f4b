/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "proto.h"
#include "safe-mmap.h"

struct safe_mmap {
        const void *data;       /* the first byte asked for: map_base + the offset within its page */
        uint64_t size;
        int fd;
        int kind;
        unsigned flags;         /* SAFE_MMAP_MADE_* | AS_GIVEN | CONSISTENT | CACHED */
        void *map_base;         /* what munmap() releases ... */
        uint64_t map_size;      /* ... and how much; 0 when nothing is mapped */
};

/* verify.c: the proof; safe_mmap_check_fd() without the argument checks. */
int verify_fd(int fd, int *ret_kind, uint64_t *ret_size);
/*
 * verify.c: verify_fd() but for its first step, the descriptor's access mode:
 * the caller proves that @fd is readable some other way (a PROT_READ mapping),
 * and checks it with fd_check_readable() first when this fails, so that the
 * error is still the first failing step's.
 */
int verify_file(int fd, int *ret_kind, uint64_t *ret_size);

/* verify.c: FS_IOC_MEASURE_VERITY: the digest's length, -ENODATA, -ENOBUFS, -ENOMEM or -EIO. */
int verify_verity_digest(int fd, unsigned *ret_algorithm, uint8_t *buf, size_t size);

/*
 * map.c: maps @length bytes of @fd from @offset (any offset: the pages around
 * the range are mapped) and wraps them into a safe_mmap whose flags are
 * @result_flags. @fd is always taken, and closed on failure.
 */
DEFINE_CLEANUP(safe_mmap, safe_mmap_free);
int map_new(int fd, int kind, unsigned result_flags, uint64_t offset, uint64_t length, unsigned flags,
            safe_mmap **ret);
/* map.c: a close-on-exec duplicate of @fd: -EBADF, -EMFILE or -ENFILE. */
int map_dup(int fd);

/* snapshot.c: checks that @fd is a readable regular file: 0, -EBADF, -EISDIR or -EINVAL. */
int snapshot_check_source(int fd);
/*
 * snapshot.c: copies @fd (a regular file) into a new sealed memfd, read-only,
 * in *ret_fd. With @require_consistent, only a copy made under a read lease
 * this process held throughout counts (-EAGAIN when none was).
 */
int snapshot_local(int fd, uint64_t max_size, bool require_consistent, int *ret_fd);
/* snapshot.c: the local size limit (SAFE_MMAP_LOCAL_SIZE_MAX or $SAFE_MMAP_SIZE_MAX); -EINVAL if that does not parse. */
int snapshot_local_size_max(uint64_t *ret);

/*
 * connection.c: sends @req (with @send_fd when >= 0) to safe-mmapd over the
 * process's kept connection and receives the reply; errors as
 * transport_connect() and transport_call().
 */
int connection_call(const ProtoRequest *req, int send_fd, ProtoReply *ret_reply, int *ret_fd);

/*
 * The library's one errno boundary. Every public function returns through
 * errno_filter() with the list of errnos its documentation names (safe-mmap.h
 * and safe-mmap(3), which tests/client/test-errnos.sh keeps in step): any
 * other failure, from the kernel, a shared helper or the daemon, becomes the
 * documented catch-all -EIO. Non-negative results pass unchanged.
 */
#define ERRNO_CATCH_ALL EIO
int errno_filter(int r, const int *allowed, size_t n_allowed);
#define ERRNO_FILTER(r, list) errno_filter((r), (list), sizeof(list) / sizeof((list)[0]))

/* The documented lists, one per public function (without the catch-all, which every list has). */
#define ERRNOS_CHECK_FD EBADF, EBADFD, ENOMEM
#define ERRNOS_MAP_FD EINVAL, ERRNOS_CHECK_FD, EMFILE, ENFILE, EFBIG
#define ERRNOS_MAP_FD_VERITY ERRNOS_MAP_FD, ENODATA, EKEYREJECTED
#define ERRNOS_MAP_FD_UNSAFE EINVAL, EBADF, ENODEV, EACCES, EMFILE, ENFILE, ENOMEM, EFBIG
#define ERRNOS_VERITY_DIGEST EINVAL, ENODATA, ENOBUFS, ENOMEM
#define ERRNOS_SEAL_BYTES EINVAL, EMFILE, ENFILE, ENOMEM, ENOSPC, EFBIG
#define ERRNOS_SNAPSHOT_FD                                                                              \
        EINVAL, EISDIR, EBADF, EFBIG, EAGAIN, EBADFD, EPERM, EACCES, EPROTO, ECONNREFUSED, ECONNRESET, \
                ETIMEDOUT, EOPNOTSUPP, EDQUOT, EMFILE, ENFILE, ENOMEM, ENOSPC
#define ERRNOS_SNAPSHOT ERRNOS_SNAPSHOT_FD, ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, EXDEV
#define ERRNOS_GETTER EINVAL
