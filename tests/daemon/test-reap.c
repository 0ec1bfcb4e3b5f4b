/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The last reference to a large memfd snapshot does not free its pages
 * where it is dropped (in the middle of a request, or on the event loop):
 * its descriptor waits for a worker. Small ones are closed at once.
 */

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "daemon-test.h"
#include "reap.h"

START_TEST(test_large_deferred) {
        Snapshot *s = make_snapshot(2 * REAP_SIZE_MIN, 'r');
        int *fds = NULL;
        struct stat st;
        size_t n;

        ck_assert(!reap_pending());
        ck_assert_ptr_null(snapshot_unref(s));
        ck_assert(reap_pending());
        n = reap_take(&fds);
        ck_assert_uint_eq(n, 1);
        /* Still open, the whole copy: the pages are freed by whoever closes it. */
        ck_assert_int_eq(fstat(fds[0], &st), 0);
        ck_assert_int_eq(st.st_size, 2 * REAP_SIZE_MIN);
        ck_assert_int_eq(close(fds[0]), 0);
        free(fds);
        ck_assert(!reap_pending());
}
END_TEST

START_TEST(test_small_closed_at_once) {
        Snapshot *s = make_snapshot(4096, 's');
        Snapshot *held = snapshot_ref(s);
        int *fds = NULL;

        /* Not the last reference: nothing happens. */
        ck_assert_ptr_null(snapshot_unref(s));
        ck_assert(!reap_pending());
        ck_assert_ptr_null(snapshot_unref(held));
        ck_assert(!reap_pending());
        ck_assert_uint_eq(reap_take(&fds), 0);
        free(fds);
}
END_TEST

int main(void) {
        const TTest *const tests[] = { test_large_deferred, test_small_closed_at_once };

        return run_tests("reap", tests, ELEMENTSOF(tests));
}
