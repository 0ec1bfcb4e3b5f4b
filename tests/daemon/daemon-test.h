/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/* Shared by the daemon's unit tests: real snapshots of real memfds, and the Check frame. */

#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "resolve.h"
#include "snapshot.h"
#include "test-util.h"

static inline int progress_ok(void *userdata, uint64_t total) {
        return 0;
}

/* A sealed memfd snapshot of @size bytes of @byte, copied from a fresh memfd (a regular tmpfs file). */
static inline Snapshot *make_snapshot(size_t size, char byte) {
        _cleanup_close_ int fd = memfd_create("test-source", MFD_CLOEXEC);
        Source src = SOURCE_NULL;
        Snapshot *s = NULL;
        char *buf = malloc(size + 1);

        ck_assert_int_ge(fd, 0);
        ck_assert_ptr_nonnull(buf);
        memset(buf, byte, size);
        ck_assert_int_eq(write(fd, buf, size), (ssize_t) size);
        free(buf);
        ck_assert_int_eq(resolve_fd(fd, &src), 0);
        ck_assert_int_eq(snapshot_new_copy(&src, UINT64_C(1) << 30, progress_ok, NULL, &s), 0);
        source_done(&src);
        return s;
}

static inline int run_tests(const char *name, const TTest *const *tests, size_t n) {
        TCase *tc;
        Suite *s = test_suite(name, 0, NULL, NULL, &tc);

        for (size_t i = 0; i < n; i++)
                tcase_add_test(tc, tests[i]);
        return suite_run(s, NULL);
}
