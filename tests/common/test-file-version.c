/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * file-version on real files: a version stays equal while nothing changes and
 * differs after each kind of change a writer or a replacement can make.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "file-version.h"
#include "test-util.h"

static int memfd_with(const char *data) {
        int fd = memfd_create("file-version", MFD_CLOEXEC);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, data, strlen(data)), (ssize_t) strlen(data));
        return fd;
}

static void version_of(int fd, FileVersion *ret) {
        ck_assert_int_eq(file_version_from_fd(fd, ret), 0);
}

START_TEST(test_unchanged) {
        int fd = memfd_with("abc");
        FileVersion a, b;
        struct stat st;

        version_of(fd, &a);
        version_of(fd, &b);
        ck_assert(file_version_equal(&a, &b));
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_uint_eq(a.ino, st.st_ino);
        ck_assert_uint_eq(a.size, 3);
        ck_assert_uint_eq(a.dev, (uint64_t) major(st.st_dev) << 32 | minor(st.st_dev));
        /* Every kernel this runs on (5.8 and later) names the mount. */
        ck_assert_uint_ne(a.mnt_id_mask, 0);
        ck_assert_uint_ne(a.mnt_id, 0);
        close(fd);
}
END_TEST

START_TEST(test_changes) {
        int fd = memfd_with("abc"), other = memfd_with("abc"), dir;
        struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = 1000000000, .tv_nsec = 5 } };
        FileVersion a, b;

        version_of(fd, &a);
        /* Another file with the same contents: another inode. */
        version_of(other, &b);
        ck_assert(!file_version_equal(&a, &b));

        /* A write of the same length with mtime put back: ctime still moved. */
        ck_assert_int_eq(futimens(fd, times), 0);
        version_of(fd, &a);
        usleep(10000);
        ck_assert_int_eq(pwrite(fd, "xyz", 3, 0), 3);
        ck_assert_int_eq(futimens(fd, times), 0);
        version_of(fd, &b);
        ck_assert_int_eq(a.mtime_sec, b.mtime_sec);
        ck_assert(!file_version_equal(&a, &b));

        /* Size. */
        version_of(fd, &a);
        ck_assert_int_eq(ftruncate(fd, 2), 0);
        version_of(fd, &b);
        ck_assert(!file_version_equal(&a, &b));

        /* Each field on its own makes a difference. */
        version_of(fd, &a);
        b = a;
        b.mnt_id++;
        ck_assert(!file_version_equal(&a, &b));
        b = a;
        b.dev ^= 1;
        ck_assert(!file_version_equal(&a, &b));
        b = a;
        b.mtime_nsec ^= 1;
        ck_assert(!file_version_equal(&a, &b));

        /* Another mount: /proc and a memfd differ in device and mount. */
        dir = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(dir, 0);
        version_of(dir, &b);
        ck_assert(b.dev != a.dev && b.mnt_id != a.mnt_id);
        close(dir);

        ck_assert_int_eq(file_version_from_fd(-1, &a), -EBADF);
        close(fd);
        close(other);
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s = test_suite("file-version", 0, NULL, NULL, &tc);

        tcase_add_test(tc, test_unchanged);
        tcase_add_test(tc, test_changes);
        return suite_run(s, NULL);
}
