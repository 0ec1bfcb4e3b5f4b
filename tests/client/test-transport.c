/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The conversation with safe-mmapd, seen through safe_mmap_snapshot() and
 * safe_mmap_snapshot_fd(): what the library sends, and that it trusts nothing
 * the daemon answers. A fake daemon (fake-daemon.c) answers correctly or
 * wrongly on purpose.
 *
 * Run as `test-transport [TCASE]`; the "foreign-daemon" case runs only when
 * named, and exits 77 (skip) when not root.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client-test.h"
#include "fake-daemon.h"
#include "proto.h"

static char *no_daemon_socket;

/* A file whose bytes differ from FAKE_CONTENT: who made a snapshot shows in its bytes. */
#define LOCAL_CONTENT "made from the file itself"

static void assert_no_request(struct fake_daemon *d) {
        struct fake_request req;

        ck_assert_msg(fake_daemon_next(d, &req) == -ENODATA, "the daemon got a request (type %u, %u fds)",
                      req.type, req.n_fds);
}

START_TEST(test_daemon_good) {
        char *path = scratch_file(LOCAL_CONTENT, strlen(LOCAL_CONTENT), 0644);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct fake_request req;
        struct fake_daemon d;
        struct stat st;
        safe_mmap *m;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fstat(fd, &st), 0);
        fake_daemon_start(&d, FAKE_GOOD, 4, 0);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);

        /* The descriptor goes to the daemon; its answer is verified and mapped. */
        m = expect_snapshot_fd(fd, 0, 0);
        assert_snapshot(m, FAKE_CONTENT, strlen(FAKE_CONTENT));
        /* Made by the daemon, which did not claim to have proven anything. */
        ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_MADE_BY_DAEMON);
        mapping_release(m);
        ck_assert_int_eq(fake_daemon_next(&d, &req), 0);
        ck_assert_int_eq(req.decoded, 0);
        ck_assert_uint_eq(req.type, PROTO_REQUEST_SNAPSHOT_FD);
        ck_assert_uint_eq(req.n_fds, 1);
        ck_assert(req.dev == st.st_dev && req.ino == st.st_ino);

        /* By name: opened here with our own rights, then passed as a descriptor. */
        m = expect_snapshot(path, SAFE_MMAP_NO_FALLBACK | SAFE_MMAP_POPULATE, 0);
        assert_snapshot(m, FAKE_CONTENT, strlen(FAKE_CONTENT));
        mapping_release(m);
        ck_assert_int_eq(fake_daemon_next(&d, &req), 0);
        ck_assert_uint_eq(req.type, PROTO_REQUEST_SNAPSHOT_FD);
        ck_assert_uint_eq(req.n_fds, 1);
        ck_assert(req.dev == st.st_dev && req.ino == st.st_ino);
        ck_assert_int_ne(req.fd_flags & O_ACCMODE, O_WRONLY);
        ck_assert_int_eq(req.fd_flags & O_PATH, 0);

        /* NO_DAEMON never asks. */
        m = expect_snapshot_fd(fd, SAFE_MMAP_NO_DAEMON, 0);
        assert_snapshot(m, LOCAL_CONTENT, strlen(LOCAL_CONTENT));
        mapping_release(m);
        assert_no_request(&d);

        /* Neither does a snapshot of a directory or a device. */
        expect_snapshot(scratch_dir(), 0, -EISDIR);
        expect_snapshot("/dev/null", 0, -EINVAL);
        assert_no_request(&d);

        fake_daemon_stop(&d);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", no_daemon_socket, 1), 0);
        close(fd);
        free(path);
}
END_TEST

/* What the daemon says about its snapshot reaches the caller, and REQUIRE_CONSISTENT holds to it. */
START_TEST(test_daemon_flags) {
        char *path = scratch_file(LOCAL_CONTENT, strlen(LOCAL_CONTENT), 0644);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct fake_request req;
        struct fake_daemon d;
        safe_mmap *m;

        ck_assert_int_ge(fd, 0);
        fake_daemon_start(&d, FAKE_CACHED, 2, 0);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);
        m = expect_snapshot_fd(fd, SAFE_MMAP_NO_FALLBACK, 0);
        assert_snapshot(m, FAKE_CONTENT, strlen(FAKE_CONTENT));
        ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_MADE_BY_DAEMON | SAFE_MMAP_CONSISTENT | SAFE_MMAP_CACHED);
        mapping_release(m);
        m = expect_snapshot(path, SAFE_MMAP_REQUIRE_CONSISTENT, 0);
        ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_MADE_BY_DAEMON | SAFE_MMAP_CONSISTENT | SAFE_MMAP_CACHED);
        mapping_release(m);
        fake_daemon_stop(&d);

        fake_daemon_start(&d, FAKE_CONSISTENT, 1, 0);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);
        m = expect_snapshot_fd(fd, SAFE_MMAP_REQUIRE_CONSISTENT | SAFE_MMAP_NO_FALLBACK, 0);
        ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_MADE_BY_DAEMON | SAFE_MMAP_CONSISTENT);
        mapping_release(m);
        fake_daemon_stop(&d);

        /* Never proven: asked again a bounded number of times, then -EAGAIN with NO_FALLBACK ... */
        fake_daemon_start(&d, FAKE_GOOD, 6, 0);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);
        expect_snapshot_fd(fd, SAFE_MMAP_REQUIRE_CONSISTENT | SAFE_MMAP_NO_FALLBACK, -EAGAIN);
        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(fake_daemon_next(&d, &req), 0);
        assert_no_request(&d);
        /* ... else a copy made here under a lease of our own (the test owns the file). */
        m = expect_snapshot_fd(fd, SAFE_MMAP_REQUIRE_CONSISTENT, 0);
        assert_snapshot(m, LOCAL_CONTENT, strlen(LOCAL_CONTENT));
        ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_MADE_LOCALLY | SAFE_MMAP_CONSISTENT);
        mapping_release(m);
        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(fake_daemon_next(&d, &req), 0);
        assert_no_request(&d);
        fake_daemon_stop(&d);

        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", no_daemon_socket, 1), 0);
        close(fd);
        free(path);
}
END_TEST

/* An immutable file never reaches the daemon: mapped as given. */
START_TEST(test_daemon_not_asked_for_immutable) {
        int fd = memfd_new(MFD_ALLOW_SEALING, "sealed", 6, SEALS_SNAPSHOT);
        struct fake_daemon d;
        safe_mmap *m;

        fake_daemon_start(&d, FAKE_GOOD, 1, 0);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);
        m = expect_snapshot_fd(fd, 0, 0);
        assert_snapshot(m, "sealed", 6);
        ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_AS_GIVEN | SAFE_MMAP_CONSISTENT);
        mapping_release(m);
        assert_no_request(&d);
        fake_daemon_stop(&d);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", no_daemon_socket, 1), 0);
        close(fd);
}
END_TEST

static const struct {
        enum fake_mode mode;
        const char *name;
        int expected;
} bad_replies[] = {
        { FAKE_UNSEALED, "unsealed memfd", -EBADFD },
        { FAKE_DISK_FILE, "ordinary file", -EBADFD },
        { FAKE_WRONG_SIZE, "size differs from the descriptor's", -EPROTO },
        { FAKE_WRONG_KIND, "kind differs from the descriptor's", -EPROTO },
        { FAKE_ERROR, "error status", -FAKE_ERRNO },
        { FAKE_ERROR_WITH_FD, "error status with a descriptor", -EPROTO },
        { FAKE_NO_FD, "success without a descriptor", -EPROTO },
        { FAKE_TWO_FDS, "two descriptors", -EPROTO },
        { FAKE_MANY_FDS, "descriptors cut off (MSG_CTRUNC)", -EPROTO },
        { FAKE_HUGE, "message cut off (MSG_TRUNC)", -EPROTO },
        { FAKE_GARBAGE, "garbage", -EPROTO },
        { FAKE_STATUS_REPLY, "reply of the wrong type", -EPROTO },
        { FAKE_OVERSIZED, "trailing bytes", -EPROTO },
};

/* A daemon that answers, but wrongly: an error, never a fallback that hides it, never a leak. */
START_TEST(test_daemon_bad_reply) {
        char *path = scratch_file(LOCAL_CONTENT, strlen(LOCAL_CONTENT), 0644);
        int fd = open(path, O_RDONLY | O_CLOEXEC), expected = bad_replies[_i].expected;
        struct fake_request req;
        struct fake_daemon d;

        ck_assert_int_ge(fd, 0);
        fake_daemon_start(&d, bad_replies[_i].mode, 3, 0);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);

        expect_snapshot_fd(fd, 0, expected);
        expect_snapshot_fd(fd, SAFE_MMAP_NO_FALLBACK, expected);
        expect_snapshot(path, SAFE_MMAP_POPULATE, expected);
        for (int i = 0; i < 3; i++) {
                ck_assert_int_eq(fake_daemon_next(&d, &req), 0);
                ck_assert_uint_eq(req.type, PROTO_REQUEST_SNAPSHOT_FD);
        }

        fake_daemon_stop(&d);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", no_daemon_socket, 1), 0);
        close(fd);
        free(path);
}
END_TEST

/* A daemon that hangs up without answering counts as no daemon. */
START_TEST(test_daemon_hang_up) {
        char *path = scratch_file(LOCAL_CONTENT, strlen(LOCAL_CONTENT), 0644);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct fake_daemon d;
        safe_mmap *m;

        ck_assert_int_ge(fd, 0);
        fake_daemon_start(&d, FAKE_HANG_UP, 3, 0);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);

        m = expect_snapshot_fd(fd, 0, 0);
        assert_snapshot(m, LOCAL_CONTENT, strlen(LOCAL_CONTENT));
        mapping_release(m);
        m = expect_snapshot(path, 0, 0);
        assert_snapshot(m, LOCAL_CONTENT, strlen(LOCAL_CONTENT));
        mapping_release(m);
        expect_snapshot_fd(fd, SAFE_MMAP_NO_FALLBACK, -ECONNRESET);

        fake_daemon_stop(&d);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", no_daemon_socket, 1), 0);
        close(fd);
        free(path);
}
END_TEST

struct path_request {
        const char *dir, *name;
        unsigned flags;
};

/* As nobody, from @dir: the file by its relative @name. No Check assertions in here. */
static int snapshot_via_daemon(void *arg) {
        const struct path_request *p = arg;
        safe_mmap *m = SENTINEL_MAP;
        int before, r;

        if (chdir(p->dir) < 0)
                return 3000;
        before = fd_count();
        r = safe_mmap_snapshot(p->name, p->flags, &m);
        if (r < 0)
                return m == SENTINEL_MAP && fd_count() == before ? r : 3001;
        if (safe_mmap_kind(m) != SAFE_MMAP_SEALED_MEMFD || safe_mmap_size(m) != strlen(FAKE_CONTENT) ||
            memcmp(safe_mmap_data(m), FAKE_CONTENT, strlen(FAKE_CONTENT)) != 0 ||
            safe_mmap_check_fd(safe_mmap_fd(m), NULL, NULL) != 0)
                r = 3002;
        (void) safe_mmap_free(m);
        if (fd_count() != before)
                r = 3003;
        return r;
}

/* Our own open is denied: the daemon is asked by (absolute) path, and only then. */
START_TEST(test_daemon_path_request) {
        char *path = scratch_file("secret", 6, 0000);
        struct path_request p = { scratch_dir(), strrchr(path, '/') + 1, _i == 0 ? 0 : SAFE_MMAP_NO_FALLBACK };
        struct fake_request req;
        struct fake_daemon d;
        int r;

        if (geteuid() != 0) {
                /* Not root: nobody is us, so our own open is denied as well. */
                ck_assert_int_eq(access(path, R_OK), -1);
        }
        fake_daemon_start(&d, FAKE_GOOD, 1, 0);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);

        r = run_as_nobody(snapshot_via_daemon, &p);
        ck_assert_msg(r == 0, "snapshot of an unreadable file through the daemon = %d", r);
        ck_assert_int_eq(fake_daemon_next(&d, &req), 0);
        ck_assert_int_eq(req.decoded, 0);
        ck_assert_uint_eq(req.type, PROTO_REQUEST_SNAPSHOT_PATH);
        ck_assert_uint_eq(req.n_fds, 0);
        ck_assert_str_eq(req.path, path);

        fake_daemon_stop(&d);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", no_daemon_socket, 1), 0);
        free(path);
}
END_TEST

/* A socket whose owner is neither root nor us never learns what we ask for. */
START_TEST(test_daemon_foreign_owner) {
        char *path = scratch_file(LOCAL_CONTENT, strlen(LOCAL_CONTENT), 0644);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct fake_daemon d;
        safe_mmap *m;

        ck_assert_int_ge(fd, 0);
        fake_daemon_start(&d, FAKE_GOOD, 3, 1);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);

        expect_snapshot_fd(fd, SAFE_MMAP_NO_FALLBACK, -EPERM);
        expect_snapshot(path, SAFE_MMAP_NO_FALLBACK, -EPERM);
        m = expect_snapshot_fd(fd, 0, 0);
        assert_snapshot(m, LOCAL_CONTENT, strlen(LOCAL_CONTENT));
        mapping_release(m);
        assert_no_request(&d);

        fake_daemon_stop(&d);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", no_daemon_socket, 1), 0);
        close(fd);
        free(path);
}
END_TEST

/* Even after a failed test (matters with CK_FORK=no): no fake daemon between tests. */
static void socket_restore(void) {
        (void) setenv("SAFE_MMAP_SOCKET", no_daemon_socket, 1);
}

int main(int argc, char **argv) {
        Suite *s = suite_create("unit");
        TCase *tc;
        int r;

        /* Between tests, never reach a daemon that happens to run on this machine. */
        no_daemon_socket = scratch_path("no-daemon");
        if (setenv("SAFE_MMAP_SOCKET", no_daemon_socket, 1) < 0)
                return EXIT_FAILURE;

        tc = tcase_create("daemon");
        tcase_add_checked_fixture(tc, NULL, socket_restore);
        tcase_add_test(tc, test_daemon_good);
        tcase_add_test(tc, test_daemon_flags);
        tcase_add_test(tc, test_daemon_not_asked_for_immutable);
        tcase_add_loop_test(tc, test_daemon_bad_reply, 0, (int) (sizeof(bad_replies) / sizeof(bad_replies[0])));
        tcase_add_test(tc, test_daemon_hang_up);
        tcase_add_loop_test(tc, test_daemon_path_request, 0, 2);
        suite_add_tcase(s, tc);

        /* Needs a second user to own the socket: run alone, skipped when not root. */
        if (argc > 1 && strcmp(argv[1], "foreign-daemon") == 0) {
                if (geteuid() != 0) {
                        printf("SKIP: a daemon socket owned by another user needs root to set up\n");
                        return 77;
                }
                tc = tcase_create("foreign-daemon");
                tcase_add_test(tc, test_daemon_foreign_owner);
                suite_add_tcase(s, tc);
        }

        r = run_suite(s, argc > 1 ? argv[1] : NULL);
        free(no_daemon_socket);
        return r;
}
