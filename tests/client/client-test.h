/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * Helpers shared by the libsafe-mmap unit tests: real memfds and files with
 * known contents, a scratch directory removed at exit, and wrappers around
 * every library call that check the result, that ret_* stays untouched on
 * failure, and that no descriptor is left behind.
 */

#include <check.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include "run-as.h"
#include "safe-mmap.h"
#include "test-util.h"

/* The seal constants, SEALS_IMMUTABLE and SEALS_SNAPSHOT, the descriptor helpers (fd_reopen()). */
#include "fd-util.h"
#include "seal-util.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

/* Never a valid pointer or value: proves that a failing call left ret_* alone. */
#define SENTINEL_MAP ((safe_mmap *) (uintptr_t) 0x5afe0001)
#define SENTINEL_KIND (-4242)
#define SENTINEL_SIZE UINT64_C(0xdeadbeefcafe)

size_t page_size(void);

/* Deterministic bytes that differ per @seed and per offset, so a shifted or
 * truncated copy never compares equal by accident. */
void pattern_fill(void *buf, size_t size, unsigned seed);
void *pattern_new(size_t size, unsigned seed);

/* Asserts that @size bytes at @got equal @want, naming the first difference. */
#define assert_bytes_eq(got, want, size) assert_bytes_eq_at(__FILE__, __LINE__, (got), (want), (size))
void assert_bytes_eq_at(const char *file, int line, const void *got, const void *want, size_t size);

/* Open descriptors of this process, not counting the one used to count. */
int fd_count(void);

/* An O_RDWR memfd holding @size bytes of @data (zeros if NULL), with @seals added. */
int memfd_new(unsigned mfd_flags, const void *data, size_t size, unsigned seals);
unsigned fd_seals(int fd);

/* A new file in scratch_dir() (test-util.h) with @size bytes of @data; returns
 * the path (malloc'd). @mode is applied after writing. */
char *scratch_file(const void *data, size_t size, unsigned mode);

/* An unlinked ordinary file with @size bytes of @data, open with @oflags. */
int disk_file_new(const void *data, size_t size, int oflags);

/*
 * Library call wrappers. Each asserts the return value, that ret_* is left
 * alone on failure and that the descriptor count is unchanged after a
 * failure. A successful mapping is returned and must be released with
 * mapping_release(), which checks that the count is back to what it was
 * before the call (mapping_adjust() when the test itself opened or closed
 * descriptors in between).
 */
#define expect_check_fd(fd, expected, kind, size) \
        expect_check_fd_at(__FILE__, __LINE__, (fd), (expected), (kind), (size))
#define expect_map_fd(fd, flags, expected) \
        expect_map_fd_at(__FILE__, __LINE__, (fd), (flags), (expected))
#define expect_map_fd_unsafe(fd, offset, length, flags, expected) \
        expect_map_fd_unsafe_at(__FILE__, __LINE__, (fd), (offset), (length), (flags), (expected))
#define expect_snapshot_fd(fd, flags, expected) \
        expect_snapshot_fd_at(__FILE__, __LINE__, (fd), (flags), (expected))
#define expect_snapshot(path, flags, expected) \
        expect_snapshot_at(__FILE__, __LINE__, (path), (flags), (expected))
#define expect_map_fd_range(fd, offset, length, flags, expected) \
        expect_map_fd_range_at(__FILE__, __LINE__, (fd), (offset), (length), (flags), (expected))
#define expect_map_fd_verity(fd, algorithm, digest, digest_size, flags, expected) \
        expect_map_fd_verity_at(__FILE__, __LINE__, (fd), (algorithm), (digest), (digest_size), (flags), (expected))
#define expect_seal_bytes(data, size, expected) expect_seal_bytes_at(__FILE__, __LINE__, (data), (size), (expected))
#define expect_verity_digest(m, buf, size, expected) \
        expect_verity_digest_at(__FILE__, __LINE__, (m), (buf), (size), (expected))
#define mapping_release(m) mapping_release_at(__FILE__, __LINE__, (m))

/* @ret_kind/@ret_size may be NULL; on success they receive the results. */
void expect_check_fd_at(const char *file, int line, int fd, int expected, int *ret_kind, uint64_t *ret_size);
safe_mmap *expect_map_fd_at(const char *file, int line, int fd, unsigned flags, int expected);
safe_mmap *expect_map_fd_unsafe_at(const char *file, int line, int fd, uint64_t offset, uint64_t length,
                                   unsigned flags, int expected);
safe_mmap *expect_snapshot_fd_at(const char *file, int line, int fd, unsigned flags, int expected);
safe_mmap *expect_snapshot_at(const char *file, int line, const char *path, unsigned flags, int expected);
safe_mmap *expect_map_fd_range_at(const char *file, int line, int fd, uint64_t offset, uint64_t length,
                                  unsigned flags, int expected);
safe_mmap *expect_map_fd_verity_at(const char *file, int line, int fd, unsigned algorithm, const uint8_t *digest,
                                   size_t digest_size, unsigned flags, int expected);
/* Returns the new descriptor (one more open), or -1 after the expected failure (none more). */
int expect_seal_bytes_at(const char *file, int line, const void *data, size_t size, int expected);
/* Returns the algorithm on success (the digest is in @buf), 0 after the expected failure, which
 * must leave @buf and the algorithm untouched. */
unsigned expect_verity_digest_at(const char *file, int line, const safe_mmap *m, uint8_t *buf, size_t size,
                                 int expected);
void mapping_adjust(safe_mmap *m, int delta);
void mapping_release_at(const char *file, int line, safe_mmap *m);

/*
 * safe_mmap_map_fd() and safe_mmap_map_fd_unsafe() keep a close-on-exec
 * duplicate of the caller's descriptor: same open file description, so the
 * same access mode and file offset (@mine must be seekable).
 */
void assert_fd_shares_description(int mine, int theirs);

/* Everything a snapshot promises, for a file that held @want (NULL: any bytes):
 * a sealed memfd of @size bytes, sealed WRITE|SHRINK|GROW|SEAL, behind a
 * read-only close-on-exec descriptor, passing safe_mmap_check_fd(). */
void assert_snapshot(safe_mmap *m, const void *want, size_t size);

/* Runs @fn(@arg) in a child that has dropped to user nobody (or stays as it
 * is when not root); returns what @fn returned. The child must not fail otherwise. */
int run_as_nobody(int (*fn)(void *arg), void *arg);

/*
 * Takes every free descriptor slot (under a lowered RLIMIT_NOFILE), gives @k
 * of them back, restores everything. fds_restore() also serves as a checked
 * teardown, so that a failed test does not starve the next one when Check
 * runs tests without forking (CK_FORK=no).
 */
void fds_exhaust(void);
void fds_release(int k);
void fds_restore(void);

/* The names the library's tests know suite_run() (test-util.h) by. */
static inline int run_suite(Suite *s, const char *tcase) {
        return suite_run(s, tcase);
}
