/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * How the tool names things for people: errnos, kinds, seals, file types,
 * file systems, digests and sizes; and reads the one thing a person writes
 * that needs more than getopt, a digest. Functions that fill @buf return it
 * (or a constant string) so that they fit in a printf argument list.
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "safe-mmap.h"
#include "seal-util.h" /* kind_to_string(), seals_to_string() */

/* strerror() in lower case, to read well inside a parenthesis. */
const char *strerror_lower(int error, char *buf, size_t size);

/* Why a snapshot could not be made, for the errnos whose strerror() would mislead. */
const char *snapshot_strerror(int r);

const char *file_type_to_string(mode_t mode);
const char *fs_type_to_string(long type, char *buf, size_t size);

/* The name /proc shows for a descriptor, e.g. "/memfd:safe-mmap (deleted)". */
int fd_get_name(int fd, char *buf, size_t size);

/* A digest the caller requires (check --digest); algorithm 0 when none. */
typedef struct Digest {
        unsigned algorithm;
        size_t size;
        uint8_t bytes[SAFE_MMAP_VERITY_DIGEST_MAX];
} Digest;

/* "sha256:HEX", "sha512:HEX" (as `fsverity measure` prints it) or bare HEX, whose length names the algorithm. */
int parse_digest(const char *s, Digest *ret);

/* "sha256:HEX" to stdout, as `fsverity measure` prints it. */
void print_digest(unsigned algorithm, const uint8_t *bytes, size_t size);

/* "LABEL123 bytes (1.2 KiB)\n" to stdout. */
void print_bytes(const char *label, uint64_t bytes);
