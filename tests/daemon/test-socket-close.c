/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The event loop's last-resort close of a client's socket returns even when
 * the client queued a TCP socket lingering on data its peer never reads:
 * without the interrupting timer that close waits for the linger time (an
 * hour here). Real sockets on the loopback, no root needed.
 */

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon-test.h"
#include "fd-util.h"
#include "macro.h"
#include "socket-close.h"

/* A TCP socket whose last close lingers: a peer that never reads, both buffers full, SO_LINGER an hour. */
static int make_lingering(int *ret_listener) {
        _cleanup_close_ int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), fd = -EBADF;
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct linger lg = { .l_onoff = 1, .l_linger = 3600 };
        socklen_t len = sizeof(a);
        static char junk[65536];
        int small = 4096;

        ck_assert_int_ge(l, 0);
        ck_assert_int_eq(bind(l, (struct sockaddr *) &a, sizeof(a)), 0);
        ck_assert_int_eq(getsockname(l, (struct sockaddr *) &a, &len), 0);
        ck_assert_int_eq(listen(l, 1), 0);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
        ck_assert_int_eq(connect(fd, (struct sockaddr *) &a, sizeof(a)), 0);
        ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
        for (int quiet = 0; quiet < 5;) {
                ssize_t n = send(fd, junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL);

                ck_assert(n >= 0 || errno == EAGAIN);
                if (n < 0) {
                        quiet++;
                        usleep(20 * 1000);
                } else
                        quiet = 0;
        }
        *ret_listener = TAKE_FD(l);
        return TAKE_FD(fd);
}

START_TEST(test_lingering_in_queue) {
        _cleanup_close_ int listener = -EBADF, lingering = -EBADF;
        int pair[2];
        uint64_t t0, dt;

        lingering = make_lingering(&listener);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
        /* What a client does before it is accepted: queue the socket on its connection, close its own copy. */
        ck_assert_int_eq(fd_send(pair[1], "x", 1, &lingering, 1), 0);
        lingering = safe_close(lingering);
        ck_assert_int_eq(close(pair[1]), 0);

        ck_assert_int_eq(socket_close_init(), 0);
        /* A hung close would end the test by its timeout instead. */
        t0 = now_usec();
        socket_close_bounded(pair[0]);
        dt = now_usec() - t0;
        fprintf(stderr, "close of a socket with a lingering socket queued: %llu us\n", (unsigned long long) dt);
}
END_TEST

int main(void) {
        const TTest *const tests[] = { test_lingering_in_queue };

        return run_tests("socket-close", tests, ELEMENTSOF(tests));
}
