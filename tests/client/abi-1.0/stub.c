/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Link-time stand-in for libsafe-mmap 1.0: the 1.0 functions at the 1.0
 * version node, nothing else. Programs are linked against it and run against
 * the real library; should this stub ever be loaded instead, every call
 * fails with -ENOSYS and the test says so.
 */
#include <errno.h>
#include <stddef.h>

#include "safe-mmap.h"

#define STUB __attribute__((visibility("default")))

STUB int safe_mmap_check_fd(int fd, int *ret_kind, uint64_t *ret_size) { return -ENOSYS; }
STUB int safe_mmap_map_fd(int fd, unsigned flags, safe_mmap **ret) { return -ENOSYS; }
STUB int safe_mmap_map_fd_unsafe(int fd, uint64_t offset, uint64_t length, unsigned flags, safe_mmap **ret) {
        return -ENOSYS;
}
STUB int safe_mmap_snapshot_fd(int fd, unsigned flags, safe_mmap **ret) { return -ENOSYS; }
STUB int safe_mmap_snapshot(const char *path, unsigned flags, safe_mmap **ret) { return -ENOSYS; }
STUB const void *safe_mmap_data(const safe_mmap *m) { return NULL; }
STUB uint64_t safe_mmap_size(const safe_mmap *m) { return 0; }
STUB int safe_mmap_kind(const safe_mmap *m) { return -ENOSYS; }
STUB int safe_mmap_fd(const safe_mmap *m) { return -ENOSYS; }
STUB safe_mmap *safe_mmap_free(safe_mmap *m) { return NULL; }
