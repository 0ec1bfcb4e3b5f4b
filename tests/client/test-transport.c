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
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
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
        { FAKE_ODD_ERRNO, "an errno the library does not document", -EIO },
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
/*
 * Refused for a limit as the daemon accepts: the refusal's errno comes out,
 * whether the request went out before the daemon shut the socket down or
 * failed with EPIPE because it came after (then the queued reply is read).
 */
START_TEST(test_daemon_refusal) {
        char *path = scratch_file(LOCAL_CONTENT, strlen(LOCAL_CONTENT), 0644);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct fake_daemon d;

        ck_assert_int_ge(fd, 0);
        fake_daemon_start(&d, FAKE_REFUSE, 40, 0);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);
        for (int i = 0; i < 40; i++)
                expect_snapshot_fd(fd, SAFE_MMAP_NO_FALLBACK, -EMFILE);
        fake_daemon_stop(&d);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", no_daemon_socket, 1), 0);
        close(fd);
        free(path);
}
END_TEST

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
/* ---- The kept connection: one per process, as long as it works. */

/* The socket connected to $SAFE_MMAP_SOCKET (the kept connection), or -1. */
static int kept_fd(void) {
        const char *want = getenv("SAFE_MMAP_SOCKET");

        for (int fd = 0; fd < 1024; fd++) {
                struct sockaddr_un sa;
                socklen_t len = sizeof(sa);

                if (getpeername(fd, (struct sockaddr *) &sa, &len) < 0 || sa.sun_family != AF_UNIX ||
                    len <= offsetof(struct sockaddr_un, sun_path))
                        continue;
                if (strncmp(sa.sun_path, want, sizeof(sa.sun_path)) == 0)
                        return fd;
        }
        return -1;
}

/* safe_mmap_snapshot_fd() of @fd that must succeed with FAKE_CONTENT; returns the request's connection. */
static unsigned kept_snapshot(struct fake_daemon *d, int fd) {
        struct fake_request req;
        safe_mmap *m = NULL;
        int r;

        r = safe_mmap_snapshot_fd(fd, SAFE_MMAP_NO_FALLBACK, &m);
        ck_assert_msg(r == 0, "snapshot through the daemon: %s", strerror(-r));
        ck_assert_uint_eq(safe_mmap_size(m), strlen(FAKE_CONTENT));
        ck_assert(memcmp(safe_mmap_data(m), FAKE_CONTENT, strlen(FAKE_CONTENT)) == 0);
        ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_MADE_BY_DAEMON);
        ck_assert_ptr_null(safe_mmap_free(m));
        ck_assert_int_eq(fake_daemon_next(d, &req), 0);
        ck_assert_uint_eq(req.type, PROTO_REQUEST_SNAPSHOT_FD);
        return req.conn;
}

static int kept_file(void) {
        char *path = scratch_file(LOCAL_CONTENT, strlen(LOCAL_CONTENT), 0644);
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        ck_assert_int_ge(fd, 0);
        free(path);
        return fd;
}

/* Several requests, one connection, close-on-exec; another socket path, another connection. */
START_TEST(test_kept_reused) {
        int fd = kept_file(), before, k;
        struct fake_daemon d;
        safe_mmap *m = NULL;

        fake_daemon_start_kept(&d, FAKE_GOOD, 4);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);
        before = fd_count();
        for (int i = 0; i < 3; i++) {
                ck_assert_uint_eq(kept_snapshot(&d, fd), 0);
                ck_assert_int_eq(fd_count(), before + 1);
        }
        k = kept_fd();
        ck_assert_int_ge(k, 0);
        ck_assert_int_eq(fcntl(k, F_GETFD), FD_CLOEXEC);

        /* A request for another socket does not go on this connection, which is let go. */
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", no_daemon_socket, 1), 0);
        ck_assert_int_eq(safe_mmap_snapshot_fd(fd, 0, &m), 0);
        ck_assert_uint_eq(safe_mmap_flags(m) & SAFE_MMAP_MADE_LOCALLY, SAFE_MMAP_MADE_LOCALLY);
        ck_assert_ptr_null(safe_mmap_free(m));
        ck_assert_int_eq(fd_count(), before);

        fake_daemon_stop(&d);
        close(fd);
}
END_TEST

/* A daemon that closed the connection (idle timeout, restart): the request goes again, on a new one. */
START_TEST(test_kept_reconnect) {
        int fd = kept_file(), before;
        struct fake_daemon d;

        /* One request per connection, then the fake daemon closes it. */
        fake_daemon_start(&d, FAKE_GOOD, 3, 0);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);
        before = fd_count();
        for (unsigned i = 0; i < 3; i++) {
                ck_assert_uint_eq(kept_snapshot(&d, fd), i);
                ck_assert_int_eq(fd_count(), before + 1);
        }
        fake_daemon_stop(&d);
        close(fd);
}
END_TEST

/* A refusal is an answer: the connection stays. A reply that is no answer: it goes. */
START_TEST(test_kept_refusal_and_garbage) {
        int fd = kept_file(), before;
        struct fake_request req;
        struct fake_daemon d;
        safe_mmap *m = SENTINEL_MAP;

        fake_daemon_start_kept(&d, FAKE_ERROR, 2);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);
        before = fd_count();
        for (int i = 0; i < 2; i++) {
                ck_assert_int_eq(safe_mmap_snapshot_fd(fd, 0, &m), -FAKE_ERRNO);
                ck_assert_int_eq(fake_daemon_next(&d, &req), 0);
                ck_assert_uint_eq(req.conn, 0);
                ck_assert_int_eq(fd_count(), before + 1);
        }
        fake_daemon_stop(&d);

        /* The fake daemon's report pipe is back where the last one was. */
        fake_daemon_start_kept(&d, FAKE_GARBAGE, 2);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);
        ck_assert_int_eq(safe_mmap_snapshot_fd(fd, SAFE_MMAP_NO_FALLBACK, &m), -EPROTO);
        ck_assert_ptr_eq(m, SENTINEL_MAP);
        ck_assert_int_eq(fd_count(), before);
        fake_daemon_stop(&d);
        close(fd);
}
END_TEST

/* A child never talks on its parent's connection: not after fork(), not after a bare clone(). */
START_TEST(test_kept_fork) {
        int fd = kept_file(), k, status;
        struct fake_request req;
        struct fake_daemon d;
        pid_t pid;

        fake_daemon_start_kept(&d, FAKE_GOOD, 4);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);
        ck_assert_uint_eq(kept_snapshot(&d, fd), 0);
        k = kept_fd();
        ck_assert_int_ge(k, 0);

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                safe_mmap *m = NULL;

                /* The child's copy of the parent's connection is closed at fork. */
                if (fcntl(k, F_GETFD) >= 0 || errno != EBADF)
                        _exit(10);
                _exit(safe_mmap_snapshot_fd(fd, SAFE_MMAP_NO_FALLBACK, &m) == 0 ? 0 : 11);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "forked child: status %#x", status);
        ck_assert_int_eq(fake_daemon_next(&d, &req), 0);
        ck_assert_uint_eq(req.conn, 1);

        /* Without fork()'s handlers the child still has it open, and must leave it alone. */
        pid = (pid_t) syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                safe_mmap *m = NULL;

                if (fcntl(k, F_GETFD) < 0)
                        _exit(12);
                _exit(safe_mmap_snapshot_fd(fd, SAFE_MMAP_NO_FALLBACK, &m) == 0 ? 0 : 13);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "cloned child: status %#x", status);
        ck_assert_int_eq(fake_daemon_next(&d, &req), 0);
        ck_assert_uint_eq(req.conn, 2);

        /* And the parent's connection is still the parent's. */
        ck_assert_uint_eq(kept_snapshot(&d, fd), 0);
        ck_assert_int_eq(kept_fd(), k);
        fake_daemon_stop(&d);
        close(fd);
}
END_TEST

/*
 * A program that closes descriptors it does not own, and gets the number
 * back for something else: the library must not send its request, and the
 * caller's file, to whatever is there now, nor close it.
 */
START_TEST(test_kept_number_reused) {
        int fd = kept_file(), k, sp[2];
        struct fake_daemon d;
        char c;

        fake_daemon_start_kept(&d, FAKE_GOOD, 4);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);
        ck_assert_uint_eq(kept_snapshot(&d, fd), 0);
        k = kept_fd();
        ck_assert_int_ge(k, 0);

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
        ck_assert_int_eq(dup3(sp[0], k, O_CLOEXEC), k);
        close(sp[0]);

        ck_assert_uint_eq(kept_snapshot(&d, fd), 1);
        ck_assert_int_eq(recv(sp[1], &c, 1, MSG_DONTWAIT), -1);
        ck_assert_int_eq(errno, EAGAIN);
        ck_assert_int_ge(fcntl(k, F_GETFD), 0);

        close(k);
        close(sp[1]);
        fake_daemon_stop(&d);
        close(fd);
}
END_TEST

struct kept_thread {
        int fd;
        int failures;
};

static void *kept_thread_run(void *arg) {
        struct kept_thread *t = arg;

        for (int i = 0; i < 50; i++) {
                safe_mmap *m = NULL;

                if (safe_mmap_snapshot_fd(t->fd, SAFE_MMAP_NO_FALLBACK, &m) != 0 ||
                    memcmp(safe_mmap_data(m), FAKE_CONTENT, strlen(FAKE_CONTENT)) != 0)
                        t->failures++;
                (void) safe_mmap_free(m);
        }
        return NULL;
}

/* Threads at once: each request gets its own answer, kept connection or not. */
START_TEST(test_kept_threads) {
        struct kept_thread t[4];
        pthread_t th[4];
        int fd = kept_file(), before;
        struct fake_daemon d;

        fake_daemon_start_kept(&d, FAKE_GOOD, 1000);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);
        before = fd_count();
        for (int i = 0; i < 4; i++) {
                t[i] = (struct kept_thread) { .fd = fd };
                ck_assert_int_eq(pthread_create(&th[i], NULL, kept_thread_run, &t[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
                ck_assert_int_eq(pthread_join(th[i], NULL), 0);
                ck_assert_int_eq(t[i].failures, 0);
        }
        ck_assert_int_eq(fd_count(), before + 1);
        fake_daemon_stop(&d);
        close(fd);
}
END_TEST

/* ---- Refusals that let the library make the copy itself. */

static const enum fake_mode local_refusals[] = { FAKE_EFBIG, FAKE_EDQUOT, FAKE_EOPNOTSUPP };
static const int local_refusal_errnos[] = { EFBIG, EDQUOT, EOPNOTSUPP };

/* Over the daemon's size limit or the uid's budget, or synthetic: a copy of our own, unless refused. */
START_TEST(test_refusal_local) {
        char *path = scratch_file(LOCAL_CONTENT, strlen(LOCAL_CONTENT), 0644);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct fake_request req;
        struct fake_daemon d;
        safe_mmap *m;

        ck_assert_int_ge(fd, 0);
        fake_daemon_start(&d, local_refusals[_i], 2, 0);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);

        m = expect_snapshot_fd(fd, 0, 0);
        assert_snapshot(m, LOCAL_CONTENT, strlen(LOCAL_CONTENT));
        ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_MADE_LOCALLY);
        mapping_release(m);
        ck_assert_int_eq(fake_daemon_next(&d, &req), 0);

        expect_snapshot_fd(fd, SAFE_MMAP_NO_FALLBACK, -local_refusal_errnos[_i]);
        ck_assert_int_eq(fake_daemon_next(&d, &req), 0);

        fake_daemon_stop(&d);
        close(fd);
        free(path);
}
END_TEST

/*
 * Files on synthetic file systems are read here, with our own rights, and
 * never sent: the daemon would read them with its own. With
 * SAFE_MMAP_NO_FALLBACK: what the daemon says to them, -EOPNOTSUPP.
 */
START_TEST(test_synthetic_not_sent) {
        static const char *const paths[] = { "/proc/self/stat", "/proc/version", "/sys/kernel/mm/transparent_hugepage/enabled" };
        struct fake_daemon d;

        fake_daemon_start(&d, FAKE_GOOD, 4, 0);
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", d.socket_path, 1), 0);
        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
                int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
                safe_mmap *m;

                if (fd < 0) {
                        fprintf(stderr, "%s: %s, not checked\n", paths[i], strerror(errno));
                        continue;
                }
                m = expect_snapshot_fd(fd, 0, 0);
                ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_MADE_LOCALLY);
                ck_assert_uint_gt(safe_mmap_size(m), 0);
                mapping_release(m);
                expect_snapshot_fd(fd, SAFE_MMAP_NO_FALLBACK, -EOPNOTSUPP);
                close(fd);
                m = expect_snapshot(paths[i], 0, 0);
                ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_MADE_LOCALLY);
                mapping_release(m);
                assert_no_request(&d);
        }
        fake_daemon_stop(&d);
}
END_TEST

static void socket_restore(void) {
        (void) setenv("SAFE_MMAP_SOCKET", no_daemon_socket, 1);
}

static void kept_setup(void) {
        (void) unsetenv("SAFE_MMAP_KEEP_CONNECTION");
}

static void kept_teardown(void) {
        socket_restore();
        (void) setenv("SAFE_MMAP_KEEP_CONNECTION", "0", 1);
}

int main(int argc, char **argv) {
        Suite *s = suite_create("unit");
        TCase *tc;
        int r;

        /* Between tests, never reach a daemon that happens to run on this machine. */
        no_daemon_socket = scratch_path("no-daemon");
        if (setenv("SAFE_MMAP_SOCKET", no_daemon_socket, 1) < 0)
                return EXIT_FAILURE;
        /*
         * The "daemon" cases count descriptors before and after each call:
         * they see the connection made for each request. The kept
         * connection, which outlives a call on purpose, has its own cases.
         */
        if (setenv("SAFE_MMAP_KEEP_CONNECTION", "0", 1) < 0)
                return EXIT_FAILURE;

        tc = tcase_create("daemon");
        tcase_add_checked_fixture(tc, NULL, socket_restore);
        tcase_add_test(tc, test_daemon_good);
        tcase_add_test(tc, test_daemon_flags);
        tcase_add_test(tc, test_daemon_not_asked_for_immutable);
        tcase_add_loop_test(tc, test_daemon_bad_reply, 0, (int) (sizeof(bad_replies) / sizeof(bad_replies[0])));
        tcase_add_test(tc, test_daemon_hang_up);
        tcase_add_test(tc, test_daemon_refusal);
        tcase_add_loop_test(tc, test_daemon_path_request, 0, 2);
        tcase_add_loop_test(tc, test_refusal_local, 0, (int) (sizeof(local_refusals) / sizeof(local_refusals[0])));
        tcase_add_test(tc, test_synthetic_not_sent);
        suite_add_tcase(s, tc);

        tc = tcase_create("kept");
        tcase_add_checked_fixture(tc, kept_setup, kept_teardown);
        tcase_add_test(tc, test_kept_reused);
        tcase_add_test(tc, test_kept_reconnect);
        tcase_add_test(tc, test_kept_refusal_and_garbage);
        tcase_add_test(tc, test_kept_fork);
        tcase_add_test(tc, test_kept_number_reused);
        tcase_add_test(tc, test_kept_threads);
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
