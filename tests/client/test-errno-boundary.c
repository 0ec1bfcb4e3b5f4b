/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The errno contract at the library's boundary: every public function, fed
 * the failures the kernel can produce (no descriptor left under
 * RLIMIT_NOFILE, no address space left under RLIMIT_AS, bad, closed, O_PATH,
 * write-only descriptors, sockets whose peer is gone, pipes) and a daemon
 * that answers with errnos nobody documented, returns only the errnos
 * safe-mmap.h lists for it, or the catch-all -EIO.
 *
 * The lists below are copied from safe-mmap.h by hand, on purpose: they are
 * the documentation's, not the implementation's (client-errnos checks that
 * the header and safe-mmap(3) agree).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client-test.h"
#include "fake-daemon.h"
#include "macro.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif

#define LIST(...) ((const int[]) { __VA_ARGS__, EIO, 0 })

static const int *const errnos_check_fd = LIST(EBADF, EBADFD, ENOMEM);
static const int *const errnos_map_fd = LIST(EINVAL, EBADF, EBADFD, EMFILE, ENFILE, ENOMEM, EFBIG);
static const int *const errnos_map_fd_unsafe = LIST(EINVAL, EBADF, ENODEV, EACCES, EMFILE, ENFILE, ENOMEM, EFBIG);
static const int *const errnos_map_fd_verity =
        LIST(EINVAL, EBADF, EBADFD, ENODATA, EKEYREJECTED, EMFILE, ENFILE, ENOMEM, EFBIG);
/* Its -ENOENT is mentioned only as what it never returns. */
static const int *const errnos_snapshot_fd =
        LIST(EINVAL, EISDIR, EBADF, EFBIG, EAGAIN, EBADFD, EPERM, EPROTO, ECONNREFUSED, ECONNRESET,
             ETIMEDOUT, EOPNOTSUPP, EDQUOT, EACCES, EMFILE, ENFILE, ENOMEM, ENOSPC);
static const int *const errnos_snapshot =
        LIST(EINVAL, EISDIR, EBADF, EFBIG, EAGAIN, EBADFD, EPERM, EPROTO, ECONNREFUSED, ENOENT, ECONNRESET,
             ETIMEDOUT, EOPNOTSUPP, EDQUOT, EACCES, EMFILE, ENFILE, ENOMEM, ENOSPC, ENOTDIR, ELOOP,
             ENAMETOOLONG, EXDEV);
static const int *const errnos_verity_digest = LIST(EINVAL, ENODATA, ENOBUFS, ENOMEM);
static const int *const errnos_seal_bytes = LIST(EINVAL, EMFILE, ENFILE, ENOMEM, ENOSPC, EFBIG);

/* Asserts that @r is a success or one of @list; frees a mapping that came back. */
#define ASSERT_DOCUMENTED(call, list, ...)                                                              \
        do {                                                                                            \
                safe_mmap *_m = NULL;                                                                   \
                int _r = call(__VA_ARGS__, &_m);                                                        \
                assert_documented(#call, _r, (list));                                                   \
                if (_r >= 0)                                                                            \
                        safe_mmap_free(_m);                                                             \
        } while (0)

static void assert_documented(const char *what, int r, const int *list) {
        if (r >= 0)
                return;
        for (const int *e = list; *e; e++)
                if (r == -*e)
                        return;
        ck_abort_msg("%s returned %s (%d), which its documentation does not list", what, strerrorname_np(-r), r);
}

static const uint8_t digest[32] = { 1 };

/* Every function that takes a descriptor, given @fd. */
static void call_each_with(int fd) {
        int r;

        r = safe_mmap_check_fd(fd, NULL, NULL);
        assert_documented("safe_mmap_check_fd", r, errnos_check_fd);
        ASSERT_DOCUMENTED(safe_mmap_map_fd, errnos_map_fd, fd, 0);
        ASSERT_DOCUMENTED(safe_mmap_map_fd, errnos_map_fd, fd, SAFE_MMAP_POPULATE);
        ASSERT_DOCUMENTED(safe_mmap_map_fd_range, errnos_map_fd, fd, 0, 1, 0);
        ASSERT_DOCUMENTED(safe_mmap_map_fd_unsafe, errnos_map_fd_unsafe, fd, 0, 0, 0);
        ASSERT_DOCUMENTED(safe_mmap_map_fd_verity, errnos_map_fd_verity, fd, SAFE_MMAP_VERITY_SHA256, digest,
                          sizeof(digest), 0);
        ASSERT_DOCUMENTED(safe_mmap_snapshot_fd, errnos_snapshot_fd, fd, 0);
        ASSERT_DOCUMENTED(safe_mmap_snapshot_fd, errnos_snapshot_fd, fd, SAFE_MMAP_NO_DAEMON);
        ASSERT_DOCUMENTED(safe_mmap_snapshot_fd, errnos_snapshot_fd, fd, SAFE_MMAP_NO_FALLBACK);
        ASSERT_DOCUMENTED(safe_mmap_snapshot_fd, errnos_snapshot_fd, fd, SAFE_MMAP_REQUIRE_CONSISTENT);
}

/* Every function that takes a path, and seal_bytes. */
static void call_each_with_path(const char *path) {
        int fd = -1, r;

        ASSERT_DOCUMENTED(safe_mmap_snapshot, errnos_snapshot, path, 0);
        ASSERT_DOCUMENTED(safe_mmap_snapshot, errnos_snapshot, path, SAFE_MMAP_NO_FALLBACK);
        ASSERT_DOCUMENTED(safe_mmap_snapshot, errnos_snapshot, path, SAFE_MMAP_NO_DAEMON);
        r = safe_mmap_seal_bytes("abc", 3, &fd);
        assert_documented("safe_mmap_seal_bytes", r, errnos_seal_bytes);
        if (r >= 0)
                close(fd);
}

/* The descriptors of a test: a sealed memfd, an ordinary file, an unsealed memfd. */
struct fixture {
        int sealed, disk, plain;
        char *path;
};

static void fixture_open(struct fixture *f) {
        f->sealed = memfd_new(MFD_ALLOW_SEALING, "sealed", 6, SEALS_SNAPSHOT);
        f->path = scratch_file("ordinary", 8, 0644);
        f->disk = open(f->path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(f->disk, 0);
        f->plain = memfd_new(0, "plain", 5, 0);
}

static void fixture_close(struct fixture *f) {
        close(f->sealed);
        close(f->disk);
        close(f->plain);
        free(f->path);
}

static void use_no_daemon(void) {
        _cleanup_free_ char *p = scratch_path("no-daemon-here");
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", p, 1), 0);
}

START_TEST(test_bad_descriptors) {
        int sv[2], pipefd[2], closed, opath, wronly;
        struct fixture f;

        use_no_daemon();
        fixture_open(&f);
        closed = dup(f.disk);
        close(closed);
        opath = open(f.path, O_PATH | O_CLOEXEC);
        wronly = open(f.path, O_WRONLY | O_CLOEXEC);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        close(sv[1]); /* a socket whose peer is gone */
        ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);

        {
                const int fds[] = { -1, -EBADF, closed, 1 << 29, opath, wronly, sv[0], pipefd[0], pipefd[1],
                                    f.sealed, f.disk, f.plain };
                for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                        call_each_with(fds[i]);
        }
        call_each_with_path(f.path);
        call_each_with_path("/");
        call_each_with_path("/proc/self/fd/999999/x");
        close(opath);
        close(wronly);
        close(sv[0]);
        close(pipefd[0]);
        close(pipefd[1]);
        fixture_close(&f);
}
END_TEST

/* No descriptor left (RLIMIT_NOFILE at the lowest free one): EMFILE from every open, dup, memfd, socket. */
START_TEST(test_no_descriptor_left) {
        struct fixture f;
        struct rlimit rl;
        int lowest;

        use_no_daemon();
        fixture_open(&f);
        lowest = dup(0);
        ck_assert_int_ge(lowest, 0);
        close(lowest);
        ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
        rl.rlim_cur = (rlim_t) lowest;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
        ck_assert_int_eq(dup(0), -1);
        ck_assert_int_eq(errno, EMFILE);

        call_each_with(f.sealed);
        call_each_with(f.disk);
        call_each_with(f.plain);
        call_each_with_path(f.path);
        {
                safe_mmap *m = NULL;
                ck_assert_int_eq(safe_mmap_map_fd(f.sealed, 0, &m), -EMFILE);
        }
        fixture_close(&f);
}
END_TEST

/* No address space left (RLIMIT_AS): ENOMEM from mmap() and malloc(). */
START_TEST(test_no_memory_left) {
#ifdef HAVE_ASAN
        fprintf(stderr, "SKIP: RLIMIT_AS cannot be used under AddressSanitizer (its shadow memory)\n");
#else
        size_t size = 64 << 20;
        void *data = pattern_new(size, 3);
        int big = memfd_new(MFD_ALLOW_SEALING, data, size, SEALS_SNAPSHOT);
        char *path = scratch_file(data, size, 0644);
        int disk = open(path, O_RDONLY | O_CLOEXEC), fd = -1, r;
        unsigned long vm_pages = 0, resident;
        FILE *statm = fopen("/proc/self/statm", "re");
        struct rlimit rl;

        use_no_daemon();
        ck_assert_ptr_nonnull(statm);
        ck_assert_int_eq(fscanf(statm, "%lu %lu", &vm_pages, &resident), 2);
        fclose(statm);
        /* What the process uses now and 8 MiB more: not enough for a 64 MiB mapping. */
        rl.rlim_cur = rl.rlim_max = (rlim_t) vm_pages * page_size() + (8 << 20);
        ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);

        call_each_with(big);
        call_each_with(disk);
        {
                safe_mmap *m = NULL;
                ck_assert_int_eq(safe_mmap_map_fd(big, 0, &m), -ENOMEM);
        }
        r = safe_mmap_seal_bytes(data, size, &fd);
        assert_documented("safe_mmap_seal_bytes", r, errnos_seal_bytes);
        if (r >= 0)
                close(fd);
        ASSERT_DOCUMENTED(safe_mmap_snapshot, errnos_snapshot, path, SAFE_MMAP_NO_DAEMON);
        close(disk);
        close(big);
        free(path);
        free(data);
#endif
}
END_TEST

/* A daemon that answers with errnos no function documents, and sockets that are not a daemon. */
START_TEST(test_daemon_errnos) {
        static const int odd[] = { EHWPOISON, EXDEV, ENOENT, EROFS, EINTR, ENOTDIR, ELOOP, ENAMETOOLONG, 4095 };
        struct fixture f;

        fixture_open(&f);
        for (size_t i = 0; i < ELEMENTSOF(odd); i++) {
                struct fake_daemon d;
                safe_mmap *m = NULL;

                fake_undocumented_errno = odd[i];
                fake_daemon_start(&d, FAKE_ODD_ERRNO, 6, 0);
                ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);
                ASSERT_DOCUMENTED(safe_mmap_snapshot_fd, errnos_snapshot_fd, f.disk, SAFE_MMAP_NO_FALLBACK);
                ASSERT_DOCUMENTED(safe_mmap_snapshot_fd, errnos_snapshot_fd, f.disk, 0);
                ASSERT_DOCUMENTED(safe_mmap_snapshot, errnos_snapshot, f.path, SAFE_MMAP_NO_FALLBACK);
                /* One that is documented for neither: the catch-all, not the daemon's word. */
                if (odd[i] == EHWPOISON || odd[i] == EROFS || odd[i] == EINTR)
                        ck_assert_int_eq(safe_mmap_snapshot_fd(f.disk, SAFE_MMAP_NO_FALLBACK, &m), -EIO);
                fake_daemon_stop(&d);
        }
        /* A socket path that is a plain file, a directory, nothing. */
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", f.path, 1), 0);
        call_each_with(f.disk);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", "/", 1), 0);
        call_each_with(f.disk);
        call_each_with_path(f.path);
        fake_undocumented_errno = FAKE_UNDOCUMENTED_ERRNO;
        fixture_close(&f);
}
END_TEST

START_TEST(test_getters) {
        uint8_t buf[64];
        int sealed = memfd_new(MFD_ALLOW_SEALING, "abc", 3, SEALS_SNAPSHOT), r;
        safe_mmap *m = NULL;

        ck_assert_int_eq(safe_mmap_kind(NULL), -EINVAL);
        ck_assert_int_eq(safe_mmap_fd(NULL), -EINVAL);
        r = safe_mmap_verity_digest(NULL, NULL, buf, sizeof(buf));
        assert_documented("safe_mmap_verity_digest", r, errnos_verity_digest);
        ck_assert_int_eq(safe_mmap_map_fd(sealed, 0, &m), 0);
        r = safe_mmap_verity_digest(m, NULL, buf, sizeof(buf));
        assert_documented("safe_mmap_verity_digest", r, errnos_verity_digest);
        r = safe_mmap_verity_digest(m, NULL, NULL, 1);
        assert_documented("safe_mmap_verity_digest", r, errnos_verity_digest);
        safe_mmap_free(m);
        close(sealed);
        r = safe_mmap_seal_bytes(NULL, 1, &sealed);
        assert_documented("safe_mmap_seal_bytes", r, errnos_seal_bytes);
}
END_TEST

int main(void) {
        Suite *s = suite_create("errno-boundary");
        TCase *tc = tcase_create("errno-boundary");
        SRunner *sr;
        int failed;

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_bad_descriptors);
        tcase_add_test(tc, test_no_descriptor_left);
        tcase_add_test(tc, test_no_memory_left);
        tcase_add_test(tc, test_daemon_errnos);
        tcase_add_test(tc, test_getters);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        scratch_dir_remove();
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
