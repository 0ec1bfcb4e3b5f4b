/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * Names of memfd seals and of the kinds of immutable file, in one place for
 * the tool's output, the tests that parse it back and the seals they make.
 * The seal constants themselves (with fallbacks for older headers) and
 * SEALS_IMMUTABLE are in missing.h.
 */

#include <stddef.h>

#include "missing.h"

/* What every snapshot carries: immutable, and no seal can be added or removed any more. */
#define SEALS_SNAPSHOT (SEALS_IMMUTABLE | F_SEAL_SEAL)

/*
 * The kinds of file a mapping rests on: the values of the public
 * SAFE_MMAP_SEALED_MEMFD, SAFE_MMAP_FS_VERITY and SAFE_MMAP_UNVERIFIED (the
 * first two are also the wire's PROTO_KIND_*; both headers are checked
 * against these at compile time where they meet).
 */
enum {
        KIND_SEALED_MEMFD = 1,
        KIND_FS_VERITY = 2,
        KIND_UNVERIFIED = 3,
};

/* "sealed-memfd", "fs-verity", "unverified", or "unknown". */
const char *kind_to_string(int kind);

/* The seal bit called @name ("seal", "shrink", "grow", "write", "future-write", "exec"), or -EINVAL. */
int seal_from_string(const char *name, size_t length);

/* A comma-separated list of names ("none" for an empty set; unknown bits in hex) in @buf. */
const char *seals_to_string(unsigned seals, char *buf, size_t size);

/* Parses what seals_to_string() writes (without hex bits) into *ret; -EINVAL for an unknown name. */
int seals_from_string(const char *s, unsigned *ret);
