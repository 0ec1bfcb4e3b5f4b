/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Resolving what a client asked for, once, into a Source: the descriptor
 * checks (O_PATH, write-only, directories, FIFOs), what is borrowed and
 * synthetic, and path resolution that never leaves the grant's root.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon-test.h"
#include "resolve.h"

static char dir[] = "/tmp/test-resolve.XXXXXX";
static int root_fd = -EBADF;

static void make_tree(void) {
        char p[256];

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(p, sizeof(p), "%s/root", dir);
        ck_assert_int_eq(mkdir(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/root/file", dir);
        ck_assert_int_eq(close(open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)), 0);
        snprintf(p, sizeof(p), "%s/outside", dir);
        ck_assert_int_eq(close(open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)), 0);
        snprintf(p, sizeof(p), "%s/root/escape", dir);
        ck_assert_int_eq(symlink("../outside", p), 0);
        snprintf(p, sizeof(p), "%s/root/inside", dir);
        ck_assert_int_eq(symlink("file", p), 0);
        snprintf(p, sizeof(p), "%s/root/fifo", dir);
        ck_assert_int_eq(mkfifo(p, 0644), 0);
        snprintf(p, sizeof(p), "%s/root", dir);
        root_fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(root_fd, 0);
}

static void remove_tree(void) {
        safe_close(root_fd);
        ck_assert_int_eq(tree_remove(dir), 0);
}

static int resolve_open(const char *name, int flags, Source *ret) {
        char p[256];
        _cleanup_close_ int fd = -EBADF;

        snprintf(p, sizeof(p), "%s/root/%s", dir, name);
        fd = open(p, flags | O_CLOEXEC | O_NONBLOCK);
        ck_assert_msg(fd >= 0, "open %s: %m", p);
        return resolve_fd(fd, ret);
}

START_TEST(test_fd_checks) {
        Source s = SOURCE_NULL;

        make_tree();
        ck_assert_int_eq(resolve_open("file", O_PATH, &s), -EBADF);
        ck_assert_int_eq(resolve_open("file", O_WRONLY, &s), -EBADF);
        ck_assert_int_eq(resolve_open(".", O_RDONLY | O_DIRECTORY, &s), -EISDIR);
        ck_assert_int_eq(resolve_open("fifo", O_RDWR, &s), -EINVAL);
        ck_assert_int_eq(s.fd, -EBADF);

        ck_assert_int_eq(resolve_open("file", O_RDONLY, &s), 0);
        ck_assert(!s.borrowed);
        ck_assert(!s.verity);
        ck_assert(S_ISREG(s.stx.stx_mode));
        source_done(&s);
        ck_assert_int_eq(s.fd, -EBADF);
        remove_tree();
}
END_TEST

/* procfs and sysfs check the reader at read(): the daemon refuses to read them with its rights. */
START_TEST(test_synthetic_is_refused) {
        _cleanup_close_ int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC), sys = -EBADF;
        Source s = SOURCE_NULL;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(resolve_fd(fd, &s), -EOPNOTSUPP);
        ck_assert_int_eq(s.fd, -EBADF);
        /* By path beneath a grant of /sys as much as by descriptor. */
        sys = open("/sys/kernel", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (sys >= 0 && faccessat(sys, "mm/transparent_hugepage/enabled", F_OK, 0) == 0)
                ck_assert_int_eq(resolve_path(sys, "mm/transparent_hugepage/enabled", 0, NULL, 0, &s), -EOPNOTSUPP);
        ck_assert_int_eq(s.fd, -EBADF);
}
END_TEST

START_TEST(test_path_stays_beneath) {
        Source s = SOURCE_NULL;

        make_tree();
        ck_assert_int_eq(resolve_path(root_fd, "file", 0, NULL, 0, &s), 0);
        ck_assert(!s.borrowed);
        source_done(&s);
        ck_assert_int_eq(resolve_path(root_fd, "inside", 0, NULL, 0, &s), 0);
        source_done(&s);
        ck_assert_int_eq(resolve_path(root_fd, "inside", RESOLVE_NO_SYMLINKS, NULL, 0, &s), -ELOOP);
        ck_assert_int_eq(resolve_path(root_fd, "escape", 0, NULL, 0, &s), -EXDEV);
        ck_assert_int_eq(resolve_path(root_fd, "../outside", 0, NULL, 0, &s), -EXDEV);
        ck_assert_int_eq(resolve_path(root_fd, "/etc/passwd", 0, NULL, 0, &s), -EXDEV);
        ck_assert_int_eq(resolve_path(root_fd, "", 0, NULL, 0, &s), -EISDIR);
        ck_assert_int_eq(resolve_path(root_fd, "fifo", 0, NULL, 0, &s), -EINVAL);
        ck_assert_int_eq(resolve_path(root_fd, "missing", 0, NULL, 0, &s), -ENOENT);
        ck_assert_int_eq(s.fd, -EBADF);
        remove_tree();
}
END_TEST

/*
 * The two steps the event loop and a worker share: the checks open nothing
 * for reading, the open finishes the same source; the fast path's flags
 * (RESOLVE_CACHED, RESOLVE_NO_XDEV) find a file whose names are cached.
 */
START_TEST(test_check_then_open) {
        _cleanup_close_ int path_fd = -EBADF, fd = -EBADF;
        char p[256];
        Source s = SOURCE_NULL;

        make_tree();
        ck_assert_int_eq(resolve_path_check(root_fd, "file", 0, NULL, 0, &path_fd, &s), 0);
        ck_assert(s.checked);
        ck_assert_int_eq(s.fd, -EBADF);
        ck_assert_int_eq(fcntl(path_fd, F_GETFL) & O_PATH, O_PATH);
        ck_assert(S_ISREG(s.stx.stx_mode));
        ck_assert_int_eq(resolve_path_open(path_fd, &s), 0);
        ck_assert_int_ge(s.fd, 0);
        ck_assert_int_eq(fcntl(s.fd, F_GETFL) & O_ACCMODE, O_RDONLY);
        source_done(&s);
        path_fd = safe_close(path_fd);

        /* Looked up once: the names are in the dentry cache now. */
        ck_assert_int_eq(resolve_path_check(root_fd, "file", RESOLVE_CACHED | RESOLVE_NO_XDEV, NULL, 0, &path_fd, &s),
                         0);
        path_fd = safe_close(path_fd);
        ck_assert_int_eq(resolve_path_check(root_fd, "fifo", RESOLVE_CACHED, NULL, 0, &path_fd, &s), -EINVAL);
        ck_assert_int_eq(path_fd, -EBADF);

        snprintf(p, sizeof(p), "%s/root/file", dir);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        s = SOURCE_NULL;
        ck_assert_int_eq(resolve_fd_check(fd, &s), 0);
        ck_assert(s.checked);
        ck_assert_int_eq(s.fd, -EBADF);
        ck_assert(!source_may_be_verity(&s));
        ck_assert_int_eq(resolve_fd_open(fd, &s), 0);
        ck_assert_int_ge(s.fd, 0);
        ck_assert_int_ne(s.fd, fd);
        source_done(&s);
        remove_tree();
}
END_TEST

int main(void) {
        const TTest *const tests[] = { test_fd_checks, test_synthetic_is_refused, test_path_stays_beneath,
                                       test_check_then_open };

        return run_tests("resolve", tests, ELEMENTSOF(tests));
}
