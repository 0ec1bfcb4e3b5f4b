/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

#include <stdint.h>

/*
 * Parses a size as the daemon's options, the policy's MaxSize= and the
 * library's SAFE_MMAP_SIZE_MAX all write it: decimal digits, optionally
 * followed by one suffix K, M, G or T (either case, powers of 1024), and
 * nothing else: no sign, no blanks, no "0x", no fraction.
 * Returns 0, -EINVAL for anything else (NULL or "" too), -ERANGE if the
 * value does not fit 64 bits.
 */
int parse_size(const char *s, uint64_t *ret);
