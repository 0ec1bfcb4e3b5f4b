/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

#include <stdint.h>

#include "safe-mmap.h"

struct safe_mmap {
        const void *data;
        uint64_t size;
        int fd;
        int kind;
        uint64_t map_size;      /* what munmap() releases; 0 when nothing is mapped */
};

/* verify.c: the proof; safe_mmap_check_fd() without the argument checks. */
int verify_fd(int fd, int *ret_kind, uint64_t *ret_size);

/* map.c: maps @fd (always taken, closed on failure) and wraps it into a safe_mmap. */
int map_new(int fd, int kind, uint64_t offset, uint64_t length, unsigned flags, safe_mmap **ret);

/* snapshot.c: checks that @fd is a readable regular file: 0, -EBADF, -EISDIR or -EINVAL. */
int snapshot_check_source(int fd);
/* snapshot.c: copies @fd (a regular file) into a new sealed memfd, read-only, in *ret_fd. */
int snapshot_local(int fd, uint64_t max_size, int *ret_fd);
/* snapshot.c: the local size limit (SAFE_MMAP_LOCAL_SIZE_MAX or $SAFE_MMAP_SIZE_MAX); -EINVAL if that does not parse. */
int snapshot_local_size_max(uint64_t *ret);
