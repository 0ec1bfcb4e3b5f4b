/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * What every test program of this tree needs, in one place: a clock, one
 * wait loop, files written whole, scratch directories that go away, and the
 * Check frame. Running a function as another user is in run-as.h.
 */

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in microseconds. */
uint64_t now_usec(void);

/*
 * Calls @cond(@userdata) until it returns true, sleeping @interval_ms
 * between calls, for at most @timeout_ms. Returns 0 once it did, or
 * -ETIMEDOUT; @cond is always called once more after the deadline passed,
 * so that a slow machine never turns a late success into a failure.
 */
int wait_until(bool (*cond)(void *userdata), void *userdata, unsigned timeout_ms, unsigned interval_ms);

/*
 * Creates (or truncates) @path with @mode, not following a symlink, and
 * writes @size bytes of @data (zeros, sparse, if @data is NULL). @mode is
 * applied with fchmod(), so the umask does not change it. Returns 0 or -errno.
 */
int write_file(const char *path, unsigned mode, const void *data, size_t size);

/* Makes a new directory PARENT/PREFIX.XXXXXX of mode 0755 (unprivileged
 * children must reach what is in it); returns its path (malloc'd). */
int scratch_dir_make(const char *parent, const char *prefix, char **ret_path);
/* Removes @path and everything below it, never following a symlink. */
int tree_remove(const char *path);

/*
 * One scratch directory per test program (mode 0755, in /var/tmp: on the
 * ordinary disk, not tmpfs), made on first use; suite_run() makes it before
 * the tests fork and removes it at the end. Abort on failure: they also run
 * outside of a test, where Check cannot report.
 */
const char *scratch_dir(void);
void scratch_dir_remove(void);
/* A new path in scratch_dir() that does not exist yet (malloc'd). */
char *scratch_path(const char *name);

/*
 * The frame of every Check program: a suite named @name holding one test
 * case of the same name, returned in *ret_tc for the tests to be added to.
 * @setup and @teardown (either may be NULL) run in each test's own process;
 * each test may take @timeout seconds (0: Check's default, CK_DEFAULT_TIMEOUT).
 */
Suite *test_suite(const char *name, double timeout, void (*setup)(void), void (*teardown)(void), TCase **ret_tc);
/* Runs @s (only its test case @tcase if not NULL), frees it and removes the
 * scratch directory. Returns main()'s exit status: 0 if all passed, else 1. */
int suite_run(Suite *s, const char *tcase);
