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
 * A client that sends such a descriptor to the daemon anyway is refused
 * with EOPNOTSUPP.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "raw-client.h"
#include "run-as.h"
#include "stallfs.h"
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

/*
 * Sent by a client that skips the library's checks: the daemon refuses it
 * (EOPNOTSUPP) instead of reading it with its own credentials, which for
 * /proc/PID/stat means the daemon's view of its own layout.
 */
static int do_raw_daemon_stat(void *userdata) {
        const char *socket_path = userdata;
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF, snap = -EBADF;
        unsigned long long layout[3];
        ProtoReply reply;
        char buf[4096];
        ssize_t n;

        CHILD_CHECK(asprintf(&path, "/proc/%i/stat", (int) h.pid) > 0);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        CHILD_CHECK(fd >= 0);
        CHILD_CHECK_INT(raw_oneshot_fd(socket_path, fd, 0, &reply, &snap), ==, 0);
        if (reply.status == 0 && snap >= 0) {
                n = pread(snap, buf, sizeof(buf), 0);
                if (n > 0 && stat_layout(buf, (size_t) n, layout) == 0)
                        fprintf(stderr, "the daemon served nobody its own layout: %llu %llu %llu\n", layout[0],
                                layout[1], layout[2]);
        }
        CHILD_CHECK_INT(reply.status, ==, -EOPNOTSUPP);
        CHILD_CHECK_INT(snap, ==, -EBADF);
        return 0;
}

START_TEST(test_raw_synthetic_refused) {
        static const char *const paths[] = { "/proc/self/status", "/proc/kallsyms", "/sys/kernel/uevent_seqnum" };

        for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                const char *const *p = &paths[i];
                _cleanup_close_ int fd = open(*p, O_RDONLY | O_CLOEXEC), snap = -EBADF;
                ProtoReply reply;

                if (fd < 0)
                        continue;
                ck_assert_int_eq(raw_oneshot_fd(h.socket_path, fd, 0, &reply, &snap), 0);
                ck_assert_msg(reply.status == -EOPNOTSUPP, "%s: status %i", *p, reply.status);
                ck_assert_int_eq(snap, -EBADF);
        }
        ck_assert_int_eq(run_as_nobody(do_raw_daemon_stat, h.socket_path), 0);
}
END_TEST

/* A FUSE server answers whoever it thinks reads: its files are refused at once, not a byte read. */
START_TEST(test_raw_fuse_refused) {
        _cleanup_free_ char *mnt = harness_path(&h, "mnt"), *endless = NULL, *stuck = NULL;
        _cleanup_close_ int fd = -EBADF, snap = -EBADF;
        StallFs fs;
        ProtoReply reply;
        uint64_t t0;

        /* Check cannot skip one test: the rest of the suite still runs in a container without FUSE. */
        if (access("/dev/fuse", R_OK | W_OK) < 0) {
                fprintf(stderr, "SKIP part: /dev/fuse not available\n");
                return;
        }
        ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
        ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        ck_assert_int_eq(mkdir(mnt, 0755), 0);
        ck_assert_int_eq(stallfs_mount(&fs, mnt), 0);
        ck_assert_int_ge(asprintf(&endless, "%s/endless", fs.fuse_mountpoint), 0);
        ck_assert_int_ge(asprintf(&stuck, "%s/stuck", fs.fuse_mountpoint), 0);

        fd = open(endless, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(raw_oneshot_fd(h.socket_path, fd, 0, &reply, &snap), 0);
        ck_assert_int_eq(reply.status, -EOPNOTSUPP);
        ck_assert_uint_eq(stallfs_endless_reads(&fs), 0);
        fd = safe_close(fd);

        /* A read of "stuck" would never return: the refusal comes at once. */
        fd = open(stuck, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        t0 = harness_now_usec();
        ck_assert_int_eq(raw_oneshot_fd(h.socket_path, fd, 0, &reply, &snap), 0);
        ck_assert_int_eq(reply.status, -EOPNOTSUPP);
        ck_assert_uint_lt(harness_now_usec() - t0, 5u * 1000u * 1000u);
        fd = safe_close(fd);
        stallfs_unmount(&fs);
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
        tcase_add_test(tc, test_raw_synthetic_refused);
        tcase_add_test(tc, test_raw_fuse_refused);
        return harness_run_suite(s);
}
