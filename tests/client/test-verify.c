/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * safe_mmap_check_fd() and safe_mmap_map_fd(): which descriptors count as
 * immutable. Everything here is a real kernel object; a descriptor is accepted
 * only when the kernel itself guarantees its contents cannot change.
 *
 * Run as `test-verify [TCASE]`; the "hugetlb" case runs only when named, and
 * exits 77 (skip) when no hugetlb memfd can be made here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "client-test.h"

static const struct {
        const char *name;
        unsigned seals;
        int expected;
} seal_cases[] = {
        { "none", 0, -EBADFD },
        { "WRITE", F_SEAL_WRITE, -EBADFD },
        { "SHRINK", F_SEAL_SHRINK, -EBADFD },
        { "GROW", F_SEAL_GROW, -EBADFD },
        { "WRITE|SHRINK", F_SEAL_WRITE | F_SEAL_SHRINK, -EBADFD },
        { "WRITE|GROW", F_SEAL_WRITE | F_SEAL_GROW, -EBADFD },
        { "SHRINK|GROW", F_SEAL_SHRINK | F_SEAL_GROW, -EBADFD },
        { "WRITE|SHRINK|GROW", SEALS_IMMUTABLE, 0 },
        { "WRITE|SHRINK|GROW|SEAL", SEALS_IMMUTABLE | F_SEAL_SEAL, 0 },
        { "WRITE|SHRINK|GROW|EXEC", SEALS_IMMUTABLE | F_SEAL_EXEC, 0 },
        { "WRITE|SHRINK|GROW|SEAL|EXEC", SEALS_IMMUTABLE | F_SEAL_SEAL | F_SEAL_EXEC, 0 },
        /* FUTURE_WRITE leaves existing writable mappings writable. */
        { "FUTURE_WRITE", F_SEAL_FUTURE_WRITE, -EBADFD },
        { "FUTURE_WRITE|SHRINK|GROW", F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW, -EBADFD },
        { "SEAL", F_SEAL_SEAL, -EBADFD },
        /* Sealing an executable memfd against exec implies WRITE|SHRINK|GROW (Linux 6.3+). */
        { "EXEC", F_SEAL_EXEC, 0 },
};

/* Checks @fd with both entry points; on success also the size, kind and bytes. */
static void verify_both(int fd, int expected, const void *data, size_t size) {
        safe_mmap *m;
        uint64_t got_size = 0;
        int kind = 0;

        expect_check_fd(fd, expected, &kind, &got_size);
        m = expect_map_fd(fd, 0, expected);
        if (expected < 0)
                return;

        ck_assert_int_eq(kind, SAFE_MMAP_SEALED_MEMFD);
        ck_assert_uint_eq(got_size, size);
        ck_assert_int_eq(safe_mmap_kind(m), SAFE_MMAP_SEALED_MEMFD);
        ck_assert_uint_eq(safe_mmap_size(m), size);
        ck_assert_ptr_nonnull(safe_mmap_data(m));
        assert_bytes_eq(safe_mmap_data(m), data, size);
        /* What the library holds passes its own check. */
        expect_check_fd(safe_mmap_fd(m), 0, NULL, NULL);
        mapping_release(m);
}

START_TEST(test_seal_matrix) {
        size_t size = 3 * page_size() + 7;
        void *data = pattern_new(size, (unsigned) _i);
        int fd, ro;

        fd = memfd_new(MFD_ALLOW_SEALING, data, size, seal_cases[_i].seals);
        ck_assert_msg((fd_seals(fd) & seal_cases[_i].seals) == seal_cases[_i].seals, "%s", seal_cases[_i].name);
        /* The table agrees with what the kernel reports. */
        ck_assert_msg(((fd_seals(fd) & SEALS_IMMUTABLE) == SEALS_IMMUTABLE) == (seal_cases[_i].expected == 0),
                      "%s: the kernel reports seals %#x", seal_cases[_i].name, fd_seals(fd));

        /* The creator's O_RDWR descriptor ... */
        verify_both(fd, seal_cases[_i].expected, data, size);
        /* ... and a read-only one, as another process would receive it. */
        ro = fd_reopen(fd, O_RDONLY);
        verify_both(ro, seal_cases[_i].expected, data, size);

        close(ro);
        close(fd);
        free(data);
}
END_TEST

START_TEST(test_noexec_seal) {
        size_t size = 100;
        void *data = pattern_new(size, 1);
        int fd = memfd_create("safe-mmap-test", MFD_CLOEXEC | MFD_NOEXEC_SEAL);

        if (fd < 0 && errno == EINVAL) {
                /* Kernels before 6.3 do not know the flag; nothing to prove there. */
                free(data);
                return;
        }
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, data, size), (ssize_t) size);
        /* Sealable without MFD_ALLOW_SEALING, and already sealed against exec only. */
        ck_assert_uint_eq(fd_seals(fd), F_SEAL_EXEC);
        verify_both(fd, -EBADFD, data, size);

        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK), 0);
        verify_both(fd, -EBADFD, data, size);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW), 0);
        verify_both(fd, 0, data, size);

        close(fd);
        free(data);
}
END_TEST

START_TEST(test_not_sealable) {
        void *data = pattern_new(10, 2);
        int fd = memfd_new(0, data, 10, 0);

        /* Without MFD_ALLOW_SEALING the kernel reports F_SEAL_SEAL and nothing else. */
        ck_assert_uint_eq(fd_seals(fd) & SEALS_IMMUTABLE, 0);
        verify_both(fd, -EBADFD, data, 10);
        close(fd);
        free(data);
}
END_TEST

static size_t size_case(int i) {
        size_t p = page_size();
        const size_t sizes[] = { 0, 1, p - 1, p, p + 1, 7 * p + 3, (1u << 20) + 1, (3u << 20) + p / 2 };

        ck_assert_int_lt(i, (int) (sizeof(sizes) / sizeof(sizes[0])));
        return sizes[i];
}
#define N_SIZE_CASES 8

START_TEST(test_sizes) {
        size_t size = size_case(_i);
        void *data = pattern_new(size, 100 + (unsigned) _i);
        int fd = memfd_new(MFD_ALLOW_SEALING, data, size, SEALS_IMMUTABLE | F_SEAL_SEAL);
        int ro = fd_reopen(fd, O_RDONLY);
        safe_mmap *m;

        verify_both(fd, 0, data, size);
        verify_both(ro, 0, data, size);

        m = expect_map_fd(ro, SAFE_MMAP_POPULATE, 0);
        ck_assert_uint_eq(safe_mmap_size(m), size);
        assert_bytes_eq(safe_mmap_data(m), data, size);
        mapping_release(m);

        close(ro);
        close(fd);
        free(data);
}
END_TEST

START_TEST(test_check_fd_optional_outputs) {
        int fd = memfd_new(MFD_ALLOW_SEALING, "abc", 3, SEALS_IMMUTABLE);
        int kind = SENTINEL_KIND, before = fd_count();
        uint64_t size = SENTINEL_SIZE;

        ck_assert_int_eq(safe_mmap_check_fd(fd, NULL, NULL), 0);
        ck_assert_int_eq(safe_mmap_check_fd(fd, &kind, NULL), 0);
        ck_assert_int_eq(kind, SAFE_MMAP_SEALED_MEMFD);
        ck_assert_int_eq(safe_mmap_check_fd(fd, NULL, &size), 0);
        ck_assert_uint_eq(size, 3);
        ck_assert_int_eq(fd_count(), before);

        /* Failures with NULL outputs do not crash either. */
        close(fd);
        fd = memfd_new(MFD_ALLOW_SEALING, "abc", 3, 0);
        before = fd_count();
        ck_assert_int_eq(safe_mmap_check_fd(fd, NULL, NULL), -EBADFD);
        ck_assert_int_eq(safe_mmap_check_fd(-1, NULL, NULL), -EBADF);
        ck_assert_int_eq(fd_count(), before);
        close(fd);
}
END_TEST

START_TEST(test_check_fd_leaves_fd_alone) {
        int fd = memfd_new(MFD_ALLOW_SEALING, "0123456789", 10, SEALS_IMMUTABLE);
        int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
        safe_mmap *m;

        ck_assert_int_eq(lseek(fd, 4, SEEK_SET), 4);
        expect_check_fd(fd, 0, NULL, NULL);
        ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 4);
        m = expect_map_fd(fd, 0, 0);
        ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 4);
        ck_assert_int_ne(safe_mmap_fd(m), fd);
        mapping_release(m);

        ck_assert_int_eq(fcntl(fd, F_GETFL), fl);
        ck_assert_int_eq(fcntl(fd, F_GETFD), fdfl);
        close(fd);
}
END_TEST

START_TEST(test_tmpfs_file) {
        char t[] = "/dev/shm/safe-mmap-test.XXXXXX";
        int fd = mkostemp(t, O_CLOEXEC);
        struct statfs sfs;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(unlink(t), 0);
        ck_assert_int_eq(fstatfs(fd, &sfs), 0);
        if ((unsigned long) sfs.f_type != 0x01021994UL) {
                /* Not tmpfs here: still an ordinary file, still refused. */
                fprintf(stderr, "note: /dev/shm is not tmpfs (f_type %#lx)\n", (unsigned long) sfs.f_type);
        } else {
                /* The trap: a plain tmpfs file answers F_GET_SEALS, with only F_SEAL_SEAL. */
                ck_assert_uint_eq(fd_seals(fd), F_SEAL_SEAL);
        }
        ck_assert_int_eq(write(fd, "hello", 5), 5);
        verify_both(fd, -EBADFD, NULL, 0);
        close(fd);
}
END_TEST

START_TEST(test_disk_file) {
        int fd = disk_file_new("hello world", 11, O_RDONLY);
        int rw = disk_file_new("hello world", 11, O_RDWR);

        verify_both(fd, -EBADFD, NULL, 0);
        verify_both(rw, -EBADFD, NULL, 0);
        close(rw);
        close(fd);
}
END_TEST

START_TEST(test_pipe_socket) {
        int p[2], s[2];

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        ck_assert_int_eq(write(p[1], "x", 1), 1);
        verify_both(p[0], -EBADFD, NULL, 0);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
        verify_both(s[0], -EBADFD, NULL, 0);
        close(s[0]);
        close(s[1]);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, s), 0);
        verify_both(s[1], -EBADFD, NULL, 0);
        close(s[0]);
        close(s[1]);
        close(p[0]);
        close(p[1]);
}
END_TEST

START_TEST(test_other_fds) {
        int fd, dir, null;

        /* A directory is not a regular file; /dev/null is a device. */
        dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(dir, 0);
        verify_both(dir, -EBADFD, NULL, 0);
        null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(null, 0);
        verify_both(null, -EBADFD, NULL, 0);
        fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        verify_both(fd, -EBADFD, NULL, 0);
        close(fd);
        close(null);
        close(dir);
}
END_TEST

START_TEST(test_bad_fds) {
        int sealed = memfd_new(MFD_ALLOW_SEALING, "abc", 3, SEALS_IMMUTABLE | F_SEAL_SEAL);
        int path = fd_reopen(sealed, O_PATH);
        int wronly = fd_reopen(sealed, O_WRONLY);
        int disk_wronly = disk_file_new("abc", 3, O_WRONLY);
        int closed = fd_reopen(sealed, O_RDONLY);

        close(closed);
        /* The same sealed file: only the descriptor's mode is wrong. */
        verify_both(path, -EBADF, NULL, 0);
        verify_both(wronly, -EBADF, NULL, 0);
        verify_both(disk_wronly, -EBADF, NULL, 0);
        verify_both(closed, -EBADF, NULL, 0);
        verify_both(-1, -EBADF, NULL, 0);
        verify_both(-EBADF, -EBADF, NULL, 0);
        verify_both(1 << 30, -EBADF, NULL, 0);
        /* The good descriptor still passes, so the failures above are about the mode. */
        verify_both(sealed, 0, "abc", 3);

        close(disk_wronly);
        close(wronly);
        close(path);
        close(sealed);
}
END_TEST

START_TEST(test_map_fd_bad_args) {
        int fd = memfd_new(MFD_ALLOW_SEALING, "abc", 3, SEALS_IMMUTABLE);
        int before = fd_count();

        ck_assert_int_eq(safe_mmap_map_fd(fd, 0, NULL), -EINVAL);
        ck_assert_int_eq(safe_mmap_map_fd(fd, SAFE_MMAP_POPULATE, NULL), -EINVAL);
        ck_assert_int_eq(fd_count(), before);
        expect_map_fd(fd, 1u << 3, -EINVAL);
        expect_map_fd(fd, 1u << 31, -EINVAL);
        expect_map_fd(fd, ~0u, -EINVAL);
        expect_map_fd(fd, SAFE_MMAP_POPULATE | (1u << 16), -EINVAL);
        close(fd);
}
END_TEST

START_TEST(test_hugetlb) {
        int fd = memfd_create("safe-mmap-test", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB);
        struct statfs sfs;

        /* main() made sure this works before running this case. */
        ck_assert_msg(fd >= 0, "memfd_create(MFD_HUGETLB): %s", strerror(errno));
        ck_assert_int_eq(fstatfs(fd, &sfs), 0);
        /* No write() on hugetlbfs; the size must be a multiple of the huge page. No page
         * is allocated until somebody maps it, so an empty pool is fine. */
        ck_assert_int_eq(ftruncate(fd, (off_t) sfs.f_bsize), 0);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, SEALS_IMMUTABLE | F_SEAL_SEAL), 0);
        ck_assert_uint_eq(fd_seals(fd) & SEALS_IMMUTABLE, SEALS_IMMUTABLE);
        /* Sealed, yet not on tmpfs: refused until proven safe. */
        verify_both(fd, -EBADFD, NULL, 0);
        close(fd);

        fd = memfd_create("safe-mmap-test", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, SEALS_IMMUTABLE), 0);
        verify_both(fd, -EBADFD, NULL, 0);
        close(fd);
}
END_TEST

static int hugetlb_available(void) {
        int fd = memfd_create("safe-mmap-test", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB);

        if (fd < 0) {
                printf("SKIP: cannot create a hugetlb memfd: %s\n", strerror(errno));
                return 0;
        }
        close(fd);
        return 1;
}

int main(int argc, char **argv) {
        Suite *s = suite_create("unit");
        const char *only = argc > 1 ? argv[1] : NULL;
        TCase *tc;

        tc = tcase_create("seals");
        tcase_add_loop_test(tc, test_seal_matrix, 0, (int) (sizeof(seal_cases) / sizeof(seal_cases[0])));
        tcase_add_test(tc, test_noexec_seal);
        tcase_add_test(tc, test_not_sealable);
        suite_add_tcase(s, tc);

        tc = tcase_create("sizes");
        tcase_add_loop_test(tc, test_sizes, 0, N_SIZE_CASES);
        tcase_add_test(tc, test_check_fd_optional_outputs);
        tcase_add_test(tc, test_check_fd_leaves_fd_alone);
        suite_add_tcase(s, tc);

        tc = tcase_create("not-memfd");
        tcase_add_test(tc, test_tmpfs_file);
        tcase_add_test(tc, test_disk_file);
        tcase_add_test(tc, test_pipe_socket);
        tcase_add_test(tc, test_other_fds);
        suite_add_tcase(s, tc);

        tc = tcase_create("bad-args");
        tcase_add_test(tc, test_bad_fds);
        tcase_add_test(tc, test_map_fd_bad_args);
        suite_add_tcase(s, tc);

        /* Registered as its own test so that a missing hugetlbfs skips only this. */
        if (only && strcmp(only, "hugetlb") == 0) {
                if (!hugetlb_available())
                        return 77;
                tc = tcase_create("hugetlb");
                tcase_add_test(tc, test_hugetlb);
                suite_add_tcase(s, tc);
        }

        return run_suite(s, only);
}
