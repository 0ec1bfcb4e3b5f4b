/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * safe_mmap_seal_bytes(): exactly the bytes, sealed so that nobody (not even
 * the maker) can change, shrink or grow them, behind a close-on-exec
 * read-only descriptor that safe_mmap_check_fd() accepts; and every
 * documented error, without a descriptor left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client-test.h"

static void assert_sealed_bytes(int fd, const void *want, size_t size) {
        int kind = 0, fdfl = fcntl(fd, F_GETFD);
        uint64_t got_size = SENTINEL_SIZE;
        struct stat st;
        char byte = 'x';
        safe_mmap *m;

        ck_assert_msg(fdfl >= 0 && (fdfl & FD_CLOEXEC), "descriptor %d is not close-on-exec", fd);
        ck_assert_int_eq(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
        ck_assert_uint_eq(fd_seals(fd) & SEALS_SNAPSHOT, SEALS_SNAPSHOT);
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0444);
        expect_check_fd(fd, 0, &kind, &got_size);
        ck_assert_int_eq(kind, SAFE_MMAP_SEALED_MEMFD);
        ck_assert_uint_eq(got_size, size);

        /* Read-only descriptor, and the file itself refuses writes through any other. */
        ck_assert_int_eq(write(fd, &byte, 1), -1);
        {
                int rw = fd_reopen(fd, O_RDWR);

                if (rw >= 0) {
                        ck_assert_int_eq(pwrite(rw, &byte, 1, 0), -1);
                        ck_assert_int_eq(errno, EPERM);
                        if (size > 0)
                                ck_assert_int_eq(ftruncate(rw, 0), -1);
                        ck_assert_int_eq(ftruncate(rw, (off_t) size + 1), -1);
                        ck_assert_int_eq(fcntl(rw, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), -1);
                        close(rw);
                }
        }

        m = expect_map_fd(fd, 0, 0);
        ck_assert_uint_eq(safe_mmap_size(m), size);
        assert_bytes_eq(safe_mmap_data(m), want, size);
        mapping_release(m);
}

START_TEST(test_bytes) {
        static const size_t sizes[] = { 1, 17, 4096, 4097, 1u << 20, (3u << 20) + 5 };

        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                void *data = pattern_new(sizes[i], (unsigned) i + 40);
                int fd = expect_seal_bytes(data, sizes[i], 0);

                /* The caller's buffer is copied, not referenced. */
                memset(data, 0, sizes[i]);
                pattern_fill(data, sizes[i], (unsigned) i + 40);
                assert_sealed_bytes(fd, data, sizes[i]);
                close(fd);
                free(data);
        }
}
END_TEST

START_TEST(test_empty) {
        int fd = expect_seal_bytes(NULL, 0, 0);

        assert_sealed_bytes(fd, "", 0);
        close(fd);
        fd = expect_seal_bytes("ignored", 0, 0);
        assert_sealed_bytes(fd, "", 0);
        close(fd);
}
END_TEST

/* Handed to another process, the receiver verifies it as any other sealed memfd. */
START_TEST(test_other_process) {
        int fd = expect_seal_bytes("handed over", 11, 0), status;
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                safe_mmap *m = NULL;
                int ok = safe_mmap_map_fd(fd, 0, &m) == 0 && safe_mmap_size(m) == 11 &&
                         memcmp(safe_mmap_data(m), "handed over", 11) == 0;

                _exit(ok ? 0 : 1);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        close(fd);
}
END_TEST

START_TEST(test_bad_args) {
        long page = sysconf(_SC_PAGESIZE);
        void *none;
        int before = fd_count();

        ck_assert_int_eq(safe_mmap_seal_bytes("abc", 3, NULL), -EINVAL);
        ck_assert_int_eq(safe_mmap_seal_bytes(NULL, 0, NULL), -EINVAL);
        ck_assert_int_eq(fd_count(), before);
        expect_seal_bytes(NULL, 1, -EINVAL);
        expect_seal_bytes(NULL, SIZE_MAX, -EINVAL);

        /* Memory the process may not read: EFAULT inside, -EINVAL outside. */
        none = mmap(NULL, (size_t) page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ck_assert_ptr_ne(none, MAP_FAILED);
        expect_seal_bytes(none, (size_t) page, -EINVAL);
        ck_assert_int_eq(munmap(none, (size_t) page), 0);
}
END_TEST

START_TEST(test_emfile) {
        fds_exhaust();
        expect_seal_bytes("abc", 3, -EMFILE);
        /* One slot: the memfd fits, its read-only reopening does not. */
        fds_release(1);
        expect_seal_bytes("abc", 3, -EMFILE);
        fds_release(1);
        close(expect_seal_bytes("abc", 3, 0));
        fds_restore();
}
END_TEST

/* A file size limit smaller than the bytes: the kernel's EFBIG (and SIGXFSZ, ignored here). */
START_TEST(test_efbig) {
        struct rlimit saved, small = { .rlim_cur = 4096 };
        void *data = pattern_new(8192, 3);
        struct sigaction ign = { .sa_handler = SIG_IGN }, old;

        ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
        small.rlim_max = saved.rlim_max;
        ck_assert_int_eq(sigaction(SIGXFSZ, &ign, &old), 0);
        ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
        expect_seal_bytes(data, 8192, -EFBIG);
        close(expect_seal_bytes(data, 4096, 0));
        ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
        ck_assert_int_eq(sigaction(SIGXFSZ, &old, NULL), 0);
        free(data);
}
END_TEST

int main(int argc, char **argv) {
        Suite *s = suite_create("unit");
        TCase *tc = tcase_create("seal");

        tcase_add_test(tc, test_bytes);
        tcase_add_test(tc, test_empty);
        tcase_add_test(tc, test_other_process);
        tcase_add_test(tc, test_bad_args);
        tcase_add_test(tc, test_efbig);
        suite_add_tcase(s, tc);

        tc = tcase_create("limits");
        tcase_add_checked_fixture(tc, NULL, fds_restore);
        tcase_add_test(tc, test_emfile);
        suite_add_tcase(s, tc);
        return run_suite(s, argc > 1 ? argv[1] : NULL);
}
