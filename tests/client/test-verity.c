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

/* Zero copy: the verity file itself, through a description of its own, by descriptor and by name. */
START_TEST(test_verity_snapshot_as_given) {
        int fd = open(verity_path, O_RDONLY | O_CLOEXEC);
        struct stat a, b;
        safe_mmap *m;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fstat(fd, &a), 0);
        for (int by_name = 0; by_name < 2; by_name++) {
                unsigned flags = SAFE_MMAP_NO_FALLBACK | SAFE_MMAP_REQUIRE_CONSISTENT;

                m = by_name ? expect_snapshot(verity_path, flags, 0) : expect_snapshot_fd(fd, flags, 0);
                ck_assert_int_eq(safe_mmap_kind(m), SAFE_MMAP_FS_VERITY);
                ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_AS_GIVEN | SAFE_MMAP_CONSISTENT);
                ck_assert_int_eq(fstat(safe_mmap_fd(m), &b), 0);
                ck_assert(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
                ck_assert_int_eq(lseek(fd, 5, SEEK_SET), 5);
                ck_assert_int_eq(lseek(safe_mmap_fd(m), 0, SEEK_CUR), 0);
                assert_bytes_eq(safe_mmap_data(m), verity_data, VERITY_SIZE);
                mapping_release(m);
        }
        close(fd);
}
END_TEST

/* The kernel's own measurement, for comparison. */
static int measure(int fd, uint8_t digest[static 64], unsigned *ret_algorithm) {
        uint16_t raw[(sizeof(struct fsverity_digest) + 64) / 2] = {};
        struct fsverity_digest *d = (struct fsverity_digest *) raw;

        d->digest_size = 64;
        ck_assert_int_eq(ioctl(fd, FS_IOC_MEASURE_VERITY, d), 0);
        memcpy(digest, d->digest, d->digest_size);
        *ret_algorithm = d->digest_algorithm;
        return d->digest_size;
}

START_TEST(test_verity_digest) {
        int fd = open(verity_path, O_RDONLY | O_CLOEXEC), len;
        uint8_t want[64], got[SAFE_MMAP_VERITY_DIGEST_MAX], wrong[64];
        unsigned algorithm;
        safe_mmap *m;

        ck_assert_int_ge(fd, 0);
        len = measure(fd, want, &algorithm);
        ck_assert_int_eq(len, 32);
        ck_assert_uint_eq(algorithm, SAFE_MMAP_VERITY_SHA256);

        m = expect_map_fd(fd, 0, 0);
        ck_assert_uint_eq(expect_verity_digest(m, got, sizeof(got), 32), SAFE_MMAP_VERITY_SHA256);
        assert_bytes_eq(got, want, 32);
        ck_assert_uint_eq(expect_verity_digest(m, got, 32, 32), SAFE_MMAP_VERITY_SHA256);
        ck_assert_int_eq(safe_mmap_verity_digest(m, NULL, got, 32), 32);
        expect_verity_digest(m, got, 31, -ENOBUFS);
        expect_verity_digest(m, NULL, 0, -ENOBUFS);
        expect_verity_digest(m, NULL, 32, -EINVAL);
        mapping_release(m);

        /* Mapped without proof, the same file has no digest the library would vouch for. */
        m = expect_map_fd_unsafe(fd, 0, 0, 0, 0);
        expect_verity_digest(m, got, sizeof(got), -ENODATA);
        mapping_release(m);

        /* Required when mapping: the right digest maps, any other refuses. */
        m = expect_map_fd_verity(fd, SAFE_MMAP_VERITY_SHA256, want, 32, SAFE_MMAP_POPULATE, 0);
        ck_assert_int_eq(safe_mmap_kind(m), SAFE_MMAP_FS_VERITY);
        ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_AS_GIVEN | SAFE_MMAP_CONSISTENT);
        assert_bytes_eq(safe_mmap_data(m), verity_data, VERITY_SIZE);
        assert_fd_shares_description(fd, safe_mmap_fd(m));
        mapping_release(m);
        for (int i = 0; i < 32; i++) {
                memcpy(wrong, want, 32);
                wrong[i] ^= 1;
                expect_map_fd_verity(fd, SAFE_MMAP_VERITY_SHA256, wrong, 32, 0, -EKEYREJECTED);
        }
        memset(wrong, 0, sizeof(wrong));
        memcpy(wrong, want, 32);
        expect_map_fd_verity(fd, SAFE_MMAP_VERITY_SHA512, wrong, 64, 0, -EKEYREJECTED);
        expect_map_fd_verity(fd, SAFE_MMAP_VERITY_SHA256, want, 31, 0, -EINVAL);
        expect_map_fd_verity(fd, SAFE_MMAP_VERITY_SHA256, want, 64, 0, -EINVAL);
        expect_map_fd_verity(fd, 0, want, 32, 0, -EINVAL);
        expect_map_fd_verity(fd, SAFE_MMAP_VERITY_SHA256, want, 32, 1u << 5, -EINVAL);
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
        {
                uint8_t digest[32] = { 0 };

                expect_map_fd_verity(plain, SAFE_MMAP_VERITY_SHA256, digest, 32, 0, -EBADFD);
                expect_map_fd_verity(path, SAFE_MMAP_VERITY_SHA256, digest, 32, 0, -EBADF);
        }
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
        tcase_add_test(tc, test_verity_snapshot_as_given);
        tcase_add_test(tc, test_verity_digest);
        tcase_add_test(tc, test_verity_bad_fds);
        suite_add_tcase(s, tc);
        r = run_suite(s, NULL);
        (void) unlink(verity_path);
        return r;
}
