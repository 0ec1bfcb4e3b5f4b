/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Files on synthetic file systems through the library, with a real daemon
 * running: the library copies them itself, with the caller's rights, and
 * never sends them to the daemon, which would read them with its own.
 *
 * /proc/PID/stat decides at read() time, by the reader's credentials,
 * whether to show a process's address-space layout (start of code, end of
 * code, start of stack): nobody, reading the daemon's, must get what nobody
 * may see, not what the daemon sees of itself. /proc/kallsyms decides by
 * the opener's credentials: nobody sees zeros where root sees addresses.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "run-as.h"
#include "safe-mmap.h"

static Harness h;

static void setup(void) {
        ck_assert_int_eq(harness_setup(&h), 0);
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
}

static void teardown(void) {
        ck_assert_int_eq(harness_finish(&h), 0);
}

static int run_as_nobody(run_as_fn fn, void *userdata) {
        return run_as(NOBODY_UID, NOBODY_GID, NULL, 0, 60, fn, userdata);
}

/* Fields 26 to 28 of a /proc/PID/stat line (start of code, end of code, start of stack); 0 or -EINVAL. */
static int stat_layout(const char *data, size_t size, unsigned long long ret[3]) {
        _cleanup_free_ char *s = strndup(data, size);
        char *p;

        if (!s)
                return -ENOMEM;
        p = strrchr(s, ')');    /* the command name may hold anything but ')' at its end */
        if (!p)
                return -EINVAL;
        p++;
        /* After ')' comes field 3; field 26 is 23 fields further. */
        for (int field = 3; field < 26; field++) {
                p = strchr(p + 1, ' ');
                if (!p)
                        return -EINVAL;
        }
        if (sscanf(p, " %llu %llu %llu", &ret[0], &ret[1], &ret[2]) != 3)
                return -EINVAL;
        return 0;
}

/* Snapshots @path through the library; the layout fields, and whether it was made locally. */
static int snapshot_layout(const char *path, unsigned long long ret[3], unsigned *ret_flags) {
        safe_mmap *m = NULL;
        int r;

        r = safe_mmap_snapshot(path, 0, &m);
        if (r < 0)
                return r;
        *ret_flags = safe_mmap_flags(m);
        r = stat_layout(safe_mmap_data(m), (size_t) safe_mmap_size(m), ret);
        (void) safe_mmap_free(m);
        return r;
}

static int do_daemon_stat(void *userdata) {
        const char *path = userdata;
        unsigned long long layout[3];
        unsigned flags = 0;
        safe_mmap *m = NULL;

        CHILD_CHECK_INT(snapshot_layout(path, layout, &flags), ==, 0);
        if (layout[2] != 0 || layout[0] > 1) {
                fprintf(stderr, "nobody's snapshot of %s shows the daemon's layout: %llu %llu %llu\n", path,
                        layout[0], layout[1], layout[2]);
                return -1;
        }
        CHILD_CHECK_INT(flags & SAFE_MMAP_MADE_LOCALLY, ==, SAFE_MMAP_MADE_LOCALLY);
        /* Never sent: what the daemon would say to it. */
        CHILD_CHECK_INT(safe_mmap_snapshot(path, SAFE_MMAP_NO_FALLBACK, &m), ==, -EOPNOTSUPP);
        return 0;
}

START_TEST(test_nobody_daemon_stat) {
        _cleanup_free_ char *path = NULL;
        unsigned long long layout[3];
        unsigned flags;

        ck_assert_int_gt(asprintf(&path, "/proc/%i/stat", (int) h.pid), 0);
        /* Root may see it: the test can tell one view from the other. */
        ck_assert_int_eq(snapshot_layout(path, layout, &flags), 0);
        ck_assert_msg(layout[2] != 0, "root sees no start of stack in %s", path);
        ck_assert_int_eq(run_as_nobody(do_daemon_stat, path), 0);
}
END_TEST

static int do_kallsyms(void *userdata) {
        safe_mmap *m = NULL;

        CHILD_CHECK_INT(safe_mmap_snapshot("/proc/kallsyms", 0, &m), ==, 0);
        CHILD_CHECK_INT(safe_mmap_flags(m) & SAFE_MMAP_MADE_LOCALLY, ==, SAFE_MMAP_MADE_LOCALLY);
        CHILD_CHECK(safe_mmap_size(m) > 17);
        if (memcmp(safe_mmap_data(m), "0000000000000000 ", 17) != 0) {
                fprintf(stderr, "nobody's snapshot of /proc/kallsyms shows kernel addresses: %.40s\n",
                        (const char *) safe_mmap_data(m));
                (void) safe_mmap_free(m);
                return -1;
        }
        (void) safe_mmap_free(m);
        return 0;
}

START_TEST(test_nobody_kallsyms) {
        safe_mmap *m = NULL;
        bool zeros;

        ck_assert_int_eq(safe_mmap_snapshot("/proc/kallsyms", 0, &m), 0);
        ck_assert_uint_gt(safe_mmap_size(m), 17);
        zeros = memcmp(safe_mmap_data(m), "0000000000000000 ", 17) == 0;
        (void) safe_mmap_free(m);
        if (zeros) {
                fprintf(stderr, "SKIP part: root sees no kernel addresses here\n");
                return;
        }
        ck_assert_int_eq(run_as_nobody(do_kallsyms, NULL), 0);
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s;

        if (geteuid() != 0) {
                fprintf(stderr, "SKIP: needs root (drops to nobody)\n");
                return 77;
        }
        s = harness_suite("synthetic", 120, setup, teardown, &tc);
        tcase_add_test(tc, test_nobody_daemon_stat);
        tcase_add_test(tc, test_nobody_kallsyms);
        return harness_run_suite(s);
}
