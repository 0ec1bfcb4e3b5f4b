/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * Making a sealed snapshot, shared by safe-mmapd and libsafe-mmap's local
 * fallback, so that both fill and seal the same way. Every function returns
 * 0 (or a descriptor) on success and the kernel's -errno on failure; callers
 * translate to their own documented errors.
 */

#include <stddef.h>
#include <stdint.h>

/* fd_reopen_rdonly() lives in fd-util.h; included for the callers that found it here. */
#include "fd-util.h"

/* A new close-on-exec, sealable memfd named @name (a constant, never a client's path). */
int memfd_new_sealable(const char *name);

/*
 * Copies @src from offset 0 to its end into @memfd, at most @limit + 1 bytes:
 * -EFBIG past @limit. st_size is never trusted (procfs says 0, a file may grow
 * while it is copied). The source is read at explicit offsets, so its file
 * offset (perhaps shared with a client) does not move; it is never mapped,
 * and the memfd is never filled through a shared mapping (tmpfs reserves
 * nothing: running out of memory must be ENOSPC here, not SIGBUS later).
 */
int memfd_fill(int src, int memfd, uint64_t limit, uint64_t *ret_size);

/* Seals SEAL|SHRINK|GROW|WRITE (+EXEC where the kernel knows it) and makes the memfd mode 0444. */
int memfd_seal_immutable(int memfd);

/*
 * A new memfd named @name holding exactly @size bytes of @data, sealed as
 * memfd_seal_immutable() does, behind a new read-only description (the
 * sealed O_RDWR one where /proc is missing: it cannot be written either).
 */
int memfd_new_sealed_from(const char *name, const void *data, size_t size);
