/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * fd-util against real descriptors: which ones are readable, reopening
 * through /proc/self/fd, the write loop through a pipe smaller than the data,
 * and sending and receiving descriptors over a real socket pair, where every
 * failure must leave no received descriptor open.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "test-util.h"

/* Whether @fd is open. */
static int fd_is_open(int fd) {
        return fcntl(fd, F_GETFD) >= 0;
}

/* The lowest free descriptor number: after a leak-free call it is the same as before. */
static int fd_lowest_free(void) {
        int fd = dup(STDERR_FILENO);

        ck_assert_int_ge(fd, 0);
        close(fd);
        return fd;
}

/* Open descriptors of this process (counted by probing, no /proc needed). */
static int fd_open_count(void) {
        int n = 0;

        for (int fd = 0; fd < 1024; fd++)
                n += fd_is_open(fd);
        return n;
}

START_TEST(test_check_readable) {
        int rd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int rw = open("/dev/null", O_RDWR | O_CLOEXEC);
        int wr = open("/dev/null", O_WRONLY | O_CLOEXEC);
        int path = open("/dev/null", O_PATH | O_CLOEXEC);
        int closed;

        ck_assert_int_eq(fd_check_readable(rd), 0);
        ck_assert_int_eq(fd_check_readable(rw), 0);
        ck_assert_int_eq(fd_check_readable(wr), -EBADF);
        ck_assert_int_eq(fd_check_readable(path), -EBADF);
        /* Access mode 3: permission to read was checked, but nothing can be read through it. */
        int ioctl_only = open("/dev/null", O_ACCMODE | O_CLOEXEC);
        ck_assert_int_ge(ioctl_only, 0);
        ck_assert_int_eq(fd_check_readable(ioctl_only), -EBADF);
        close(ioctl_only);
        ck_assert_int_eq(fd_check_readable(-1), -EBADF);
        ck_assert_int_eq(fd_check_readable(-EBADF), -EBADF);
        closed = dup(rd);
        close(closed);
        ck_assert_int_eq(fd_check_readable(closed), -EBADF);
        close(rd);
        close(rw);
        close(wr);
        close(path);
}
END_TEST

START_TEST(test_proc_path) {
        char buf[PROC_FD_PATH_MAX];

        ck_assert_str_eq(fd_proc_path(7, buf), "/proc/self/fd/7");
        ck_assert_str_eq(fd_proc_path(2147483647, buf), "/proc/self/fd/2147483647");
        /* The longest value fits whole: nothing is cut off. */
        ck_assert_str_eq(fd_proc_path(-2147483647 - 1, buf), "/proc/self/fd/-2147483648");
}
END_TEST

START_TEST(test_reopen) {
        int memfd = memfd_create("fd-util", MFD_CLOEXEC), ro, path, fl;
        struct stat a, b;
        char c;

        ck_assert_int_ge(memfd, 0);
        ck_assert_int_eq(write(memfd, "abc", 3), 3);
        /* The memfd's offset is at 3; a new description starts at 0, read-only. */
        ro = fd_reopen_rdonly(memfd);
        ck_assert_int_ge(ro, 0);
        ck_assert_int_ne(ro, memfd);
        fl = fcntl(ro, F_GETFL);
        ck_assert_int_eq(fl & O_ACCMODE, O_RDONLY);
        ck_assert(fl & O_NONBLOCK);
        ck_assert(fcntl(ro, F_GETFD) & FD_CLOEXEC);
        ck_assert_int_eq(read(ro, &c, 1), 1);
        ck_assert_int_eq(c, 'a');
        ck_assert_int_eq(write(ro, "x", 1), -1);
        ck_assert_int_eq(fstat(memfd, &a), 0);
        ck_assert_int_eq(fstat(ro, &b), 0);
        ck_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);

        /* Only fd_reopen_rdonly() adds O_NONBLOCK. */
        {
                int plain = fd_reopen(memfd, O_RDONLY);
                ck_assert_int_ge(plain, 0);
                ck_assert(!(fcntl(plain, F_GETFL) & O_NONBLOCK));
                ck_assert(fcntl(plain, F_GETFD) & FD_CLOEXEC);
                close(plain);
        }

        path = fd_reopen(memfd, O_PATH);
        ck_assert_int_ge(path, 0);
        ck_assert_int_eq(fd_check_readable(path), -EBADF);

        ck_assert_int_eq(fd_reopen_rdonly(-1), -EBADF);
        close(path);
        close(ro);
        close(memfd);
        /* A closed descriptor has no /proc entry. */
        ck_assert_int_eq(fd_reopen_rdonly(memfd), -ENOENT);
}
END_TEST

START_TEST(test_loop_write) {
        /* More than a pipe holds at once: the loop writes it in several goes. */
        size_t size = 1 << 20, got = 0;
        uint8_t *data = malloc(size), *back = malloc(size);
        int p[2];
        pid_t pid;

        ck_assert_ptr_nonnull(data);
        ck_assert_ptr_nonnull(back);
        for (size_t i = 0; i < size; i++)
                data[i] = (uint8_t) (i * 7 + i / 251);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                close(p[0]);
                _exit(loop_write(p[1], data, size) == 0 ? 0 : 1);
        }
        close(p[1]);
        while (got < size) {
                ssize_t n = read(p[0], back + got, size - got);
                ck_assert_int_gt(n, 0);
                got += (size_t) n;
        }
        ck_assert_int_eq(read(p[0], back, 1), 0);
        ck_assert(memcmp(data, back, size) == 0);
        close(p[0]);
        {
                int status;
                ck_assert_int_eq(waitpid(pid, &status, 0), pid);
                ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }

        /* A reader that is gone: the kernel's error, not a short success. */
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        close(p[0]);
        {
                struct sigaction sa = { .sa_handler = SIG_IGN }, old;
                ck_assert_int_eq(sigaction(SIGPIPE, &sa, &old), 0);
                ck_assert_int_eq(loop_write(p[1], data, size), -EPIPE);
                ck_assert_int_eq(sigaction(SIGPIPE, &old, NULL), 0);
        }
        close(p[1]);
        ck_assert_int_eq(loop_write(-1, data, 1), -EBADF);
        ck_assert_int_eq(loop_write(-1, data, 0), 0);
        free(data);
        free(back);
}
END_TEST

START_TEST(test_send_receive) {
        int sv[2], fds[4], memfd;
        size_t n_fds = 99;
        char buf[16];
        struct stat a, b;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        memfd = memfd_create("fd-util", MFD_CLOEXEC);
        ck_assert_int_ge(memfd, 0);

        /* Without descriptors. */
        ck_assert_int_eq(fd_send(sv[0], "hello", 5, NULL, 0), 0);
        ck_assert_int_eq(fd_receive(sv[1], buf, sizeof(buf), fds, 4, &n_fds, NULL, NULL), 5);
        ck_assert_uint_eq(n_fds, 0);
        ck_assert(memcmp(buf, "hello", 5) == 0);

        /* With two: they arrive close-on-exec, as the same files. */
        {
                int two[2] = { memfd, STDERR_FILENO };
                ck_assert_int_eq(fd_send(sv[0], "x", 1, two, 2), 0);
        }
        ck_assert_int_eq(fd_receive(sv[1], buf, sizeof(buf), fds, 4, &n_fds, NULL, NULL), 1);
        ck_assert_uint_eq(n_fds, 2);
        ck_assert(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
        ck_assert(fcntl(fds[1], F_GETFD) & FD_CLOEXEC);
        ck_assert_int_eq(fstat(memfd, &a), 0);
        ck_assert_int_eq(fstat(fds[0], &b), 0);
        ck_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
        close(fds[0]);
        close(fds[1]);

        /* The peer hung up: 0, nothing received. */
        close(sv[0]);
        ck_assert_int_eq(fd_receive(sv[1], buf, sizeof(buf), fds, 4, &n_fds, NULL, NULL), 0);
        ck_assert_uint_eq(n_fds, 0);
        close(sv[1]);
        close(memfd);

        ck_assert_int_eq(fd_send(-1, "x", 1, NULL, 0), -EBADF);
        ck_assert_int_eq(fd_receive(-1, buf, 1, fds, 1, &n_fds, NULL, NULL), -EBADF);
}
END_TEST

/* Sends @n copies of stdin's /dev/null with a message of @len bytes. */
static void send_many(int sock, size_t len, size_t n) {
        int fds[FD_SEND_MAX], null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        char msg[64] = {};

        ck_assert_int_ge(null, 0);
        ck_assert_uint_le(n, FD_SEND_MAX);
        for (size_t i = 0; i < n; i++)
                fds[i] = null;
        ck_assert_int_eq(fd_send(sock, msg, len, fds, n), 0);
        close(null);
}

static int n_disposed;
static void dispose_count(int fd, void *userdata) {
        ck_assert_ptr_eq(userdata, &n_disposed);
        n_disposed++;
        close(fd);
}

/*
 * Every way a message can come with descriptors the caller does not take:
 * none of them may stay open (the client once kept those past its maximum).
 * A server's receive tells a bad message (-EBADMSG, answered) from bad
 * control data (-EPROTO, dropped); the client's does not need to.
 */
START_TEST(test_receive_closes_all) {
        static const struct {
                const char *what;
                size_t len, n, buf_size, max_fds;
                ssize_t want, want_request;
        } cases[] = {
                { "more than the caller's maximum", 4, 3, 16, 1, -EPROTO, -EPROTO },
                { "more than the maximum, many", 4, FD_SEND_MAX, 16, 4, -EPROTO, -EPROTO },
                { "a caller that takes none", 4, 1, 16, 0, -EPROTO, -EPROTO },
                { "a truncated message (MSG_TRUNC)", 32, 2, 8, 4, -EPROTO, -EBADMSG },
                { "no message, only descriptors", 0, 2, 16, 4, -EPROTO, -EBADMSG },
                { "within the maximum", 4, 2, 16, 2, 4, 4 },
        };

        for (size_t i = 0; i < 2 * ELEMENTSOF(cases); i++) {
                bool request = i >= ELEMENTSOF(cases);
                size_t c = i % ELEMENTSOF(cases);
                ssize_t want = request ? cases[c].want_request : cases[c].want;
                int sv[2], fds[FD_SEND_MAX];
                int lowest, before;
                size_t n_fds = 77;
                char buf[64];
                ssize_t r;

                ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
                lowest = fd_lowest_free();
                before = fd_open_count();
                send_many(sv[0], cases[c].len, cases[c].n);
                n_disposed = 0;
                r = (request ? fd_receive_request : fd_receive)(sv[1], buf, cases[c].buf_size, fds, cases[c].max_fds,
                                                                &n_fds, dispose_count, &n_disposed);
                ck_assert_msg(r == want, "%s%s: %zd, not %zd", request ? "request: " : "", cases[c].what, r, want);
                if (r < 0) {
                        ck_assert_msg(n_disposed == (int) cases[c].n, "%s: %d of %zu disposed of",
                                      cases[c].what, n_disposed, cases[c].n);
                        ck_assert_uint_eq(n_fds, 77);
                } else {
                        ck_assert_uint_eq(n_fds, cases[c].n);
                        ck_assert_int_eq(n_disposed, 0);
                        for (size_t k = 0; k < n_fds; k++)
                                close(fds[k]);
                }
                ck_assert_msg(fd_open_count() == before, "%s: %d descriptors open, %d before", cases[c].what,
                              fd_open_count(), before);
                ck_assert_int_eq(fd_lowest_free(), lowest);
                close(sv[0]);
                close(sv[1]);
        }
}
END_TEST

/* Sends one message of one byte with @n copies of /dev/null (up to the kernel's SCM_MAX_FD). */
static void send_raw(int sock, size_t n) {
        union {
                struct cmsghdr cmsg;
                uint8_t buf[CMSG_SPACE(sizeof(int) * FD_RECEIVE_MAX)];
        } control = {};
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC), many[FD_RECEIVE_MAX];
        struct iovec iov = { .iov_base = (void *) "m", .iov_len = 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                             .msg_controllen = CMSG_SPACE(sizeof(int) * n) };
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

        ck_assert_int_ge(null, 0);
        ck_assert_uint_le(n, FD_RECEIVE_MAX);
        for (size_t i = 0; i < n; i++)
                many[i] = null;
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(c), many, sizeof(int) * n);
        ck_assert_int_eq(sendmsg(sock, &mh, MSG_NOSIGNAL), 1);
        close(null);
}

/*
 * The most a message can carry arrives whole: the kernel never truncates the
 * control data (MSG_CTRUNC) and closes the rest in the receiver, where the
 * daemon must never close a client's descriptor. Beyond the caller's
 * maximum, all are disposed of; the default disposal is close().
 */
START_TEST(test_receive_kernel_maximum) {
        static int fds[FD_RECEIVE_MAX];
        int sv[2], before;
        size_t n_fds = 5;
        char buf[8];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        before = fd_open_count();

        send_raw(sv[0], FD_RECEIVE_MAX);
        n_disposed = 0;
        ck_assert_int_eq(fd_receive_request(sv[1], buf, sizeof(buf), fds, FD_RECEIVE_MAX, &n_fds, dispose_count,
                                            &n_disposed), 1);
        ck_assert_uint_eq(n_fds, FD_RECEIVE_MAX);
        ck_assert_int_eq(n_disposed, 0);
        ck_assert_int_eq(fd_open_count(), before + FD_RECEIVE_MAX);
        for (size_t i = 0; i < n_fds; i++)
                close(fds[i]);

        n_fds = 5;
        send_raw(sv[0], FD_RECEIVE_MAX);
        ck_assert_int_eq(fd_receive(sv[1], buf, sizeof(buf), fds, 4, &n_fds, NULL, NULL), -EPROTO);
        ck_assert_uint_eq(n_fds, 5);
        ck_assert_int_eq(fd_open_count(), before);
        close(sv[0]);
        close(sv[1]);
}
END_TEST

/*
 * Control data other than descriptors (here credentials, which the kernel
 * adds where the receiver set SO_PASSCRED) is no peer's business: -EPROTO,
 * and the descriptors that came with it are disposed of.
 */
START_TEST(test_receive_odd_control) {
        int sv[2], fds[4], before, one = 1;
        size_t n_fds = 5;
        char buf[8];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
        before = fd_open_count();
        send_many(sv[0], 4, 2);
        n_disposed = 0;
        ck_assert_int_eq(fd_receive_request(sv[1], buf, sizeof(buf), fds, 4, &n_fds, dispose_count, &n_disposed),
                         -EPROTO);
        ck_assert_int_eq(n_disposed, 2);
        ck_assert_uint_eq(n_fds, 5);
        ck_assert_int_eq(fd_open_count(), before);

        /* Without descriptors too. */
        ck_assert_int_eq(fd_send(sv[0], "x", 1, NULL, 0), 0);
        ck_assert_int_eq(fd_receive(sv[1], buf, sizeof(buf), fds, 4, &n_fds, NULL, NULL), -EPROTO);
        close(sv[0]);
        close(sv[1]);
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s = test_suite("fd-util", 0, NULL, NULL, &tc);

        tcase_add_test(tc, test_check_readable);
        tcase_add_test(tc, test_proc_path);
        tcase_add_test(tc, test_reopen);
        tcase_add_test(tc, test_loop_write);
        tcase_add_test(tc, test_send_receive);
        tcase_add_test(tc, test_receive_closes_all);
        tcase_add_test(tc, test_receive_kernel_maximum);
        tcase_add_test(tc, test_receive_odd_control);
        return suite_run(s, NULL);
}
