/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * safe_mmap_check_fd() and safe_mmap_map_fd() on fs-verity files. Needs a
 * kernel with CONFIG_FS_VERITY and a filesystem with verity enabled (ext4:
 * `tune2fs -O verity`); the directory is $SAFE_MMAP_VERITY_DIR, else the
 * scratch directory under /var/tmp. Exits 77 (skip) with the reason when
 * verity cannot be enabled there.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fsverity.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client-test.h"

#ifndef STATX_ATTR_VERITY
#define STATX_ATTR_VERITY 0x00100000
#endif

#define VERITY_SIZE (200u * 1024u + 17u)

static char *verity_path;
static void *verity_data;

/* Returns 0, or a negative errno with the reason printed. */
static int verity_file_make(const char *dir) {
        struct fsverity_enable_arg arg = {
                .version = 1,
                .hash_algorithm = FS_VERITY_HASH_ALG_SHA256,
                .block_size = 4096,
        };
        int fd, r = 0;

        if (asprintf(&verity_path, "%s/verity.%d", dir, (int) getpid()) < 0)
                return -ENOMEM;
        verity_data = pattern_new(VERITY_SIZE, 7);
        fd = open(verity_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) {
                r = -errno;
                printf("SKIP: cannot create %s: %s\n", verity_path, strerror(-r));
                return r;
        }
        if (write(fd, verity_data, VERITY_SIZE) != (ssize_t) VERITY_SIZE)
                r = errno ? -errno : -EIO;
        close(fd);
        if (r < 0) {
                printf("SKIP: cannot write %s: %s\n", verity_path, strerror(-r));
                return r;
        }

        /* Enabling needs a read-only descriptor and no writer anywhere. */
        fd = open(verity_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || ioctl(fd, FS_IOC_ENABLE_VERITY, &arg) < 0) {
                r = -errno;
                printf("SKIP: fs-verity is unavailable in %s (%s); needs CONFIG_FS_VERITY and a "
                       "filesystem with the verity feature\n", dir, strerror(-r));
        }
        if (fd >= 0)
                close(fd);
        return r;
}

START_TEST(test_verity_accepted) {
        int fd = open(verity_path, O_RDONLY | O_CLOEXEC), kind = 0;
        struct statx stx;
        uint64_t size = 0;
        safe_mmap *m;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx), 0);
        ck_assert(stx.stx_attributes_mask & STATX_ATTR_VERITY);
        ck_assert(stx.stx_attributes & STATX_ATTR_VERITY);

        expect_check_fd(fd, 0, &kind, &size);
        ck_assert_int_eq(kind, SAFE_MMAP_FS_VERITY);
        ck_assert_uint_eq(size, VERITY_SIZE);

        m = expect_map_fd(fd, 0, 0);
        ck_assert_int_eq(safe_mmap_kind(m), SAFE_MMAP_FS_VERITY);
        ck_assert_uint_eq(safe_mmap_size(m), VERITY_SIZE);
        assert_bytes_eq(safe_mmap_data(m), verity_data, VERITY_SIZE);
        assert_fd_shares_description(fd, safe_mmap_fd(m));
        mapping_release(m);

        m = expect_map_fd(fd, SAFE_MMAP_POPULATE, 0);
        close(fd);
        mapping_adjust(m, -1);
        assert_bytes_eq(safe_mmap_data(m), verity_data, VERITY_SIZE);
        mapping_release(m);
}
END_TEST

START_TEST(test_verity_snapshot_copies) {
        int fd = open(verity_path, O_RDONLY | O_CLOEXEC);
        struct stat a, b;
        safe_mmap *m;

        ck_assert_int_ge(fd, 0);
        m = expect_snapshot_fd(fd, SAFE_MMAP_NO_DAEMON, 0);
        /* "A file already immutable is still copied." */
        ck_assert_int_eq(safe_mmap_kind(m), SAFE_MMAP_SEALED_MEMFD);
        ck_assert_int_eq(fstat(fd, &a), 0);
        ck_assert_int_eq(fstat(safe_mmap_fd(m), &b), 0);
        ck_assert(a.st_dev != b.st_dev || a.st_ino != b.st_ino);
        assert_bytes_eq(safe_mmap_data(m), verity_data, VERITY_SIZE);
        mapping_release(m);
        close(fd);
}
END_TEST

START_TEST(test_verity_bad_fds) {
        int path = open(verity_path, O_PATH | O_CLOEXEC);
        int plain = disk_file_new("abc", 3, O_RDONLY);

        ck_assert_int_ge(path, 0);
        expect_check_fd(path, -EBADF, NULL, NULL);
        ck_assert_ptr_null(expect_map_fd(path, 0, -EBADF));
        /* A file next to it without verity proves nothing. */
        expect_check_fd(plain, -EBADFD, NULL, NULL);
        ck_assert_ptr_null(expect_map_fd(plain, 0, -EBADFD));
        close(plain);
        close(path);
}
END_TEST

int main(void) {
        const char *dir = getenv("SAFE_MMAP_VERITY_DIR");
        Suite *s;
        TCase *tc;
        int r;

        if (!dir || !*dir)
                dir = scratch_dir();
        if (verity_file_make(dir) < 0) {
                if (verity_path)
                        (void) unlink(verity_path);
                scratch_dir_remove();
                return 77;
        }

        s = suite_create("unit");
        tc = tcase_create("verity");
        tcase_add_test(tc, test_verity_accepted);
        tcase_add_test(tc, test_verity_snapshot_copies);
        tcase_add_test(tc, test_verity_bad_fds);
        suite_add_tcase(s, tc);
        r = run_suite(s, NULL);
        (void) unlink(verity_path);
        return r;
}
