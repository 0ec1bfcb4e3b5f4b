/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * A file whose reads never finish (a FUSE server that does not answer, as a
 * hung network file system would) must cost the daemon one worker, not its
 * event loop: everybody else is served on time while the stuck requests are
 * answered -ETIMEDOUT, and once the file system goes away every descriptor
 * is given back. The same holds for path requests whose open, or whose
 * lookup of a name, never returns. Root suite: mounting needs root; everything happens in a
 * private mount namespace, so a failed test leaves no mount behind.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "raw-client.h"
#include "stallfs.h"

#define STUCK_CLIENTS 4
/* The daemon gives up on a request after 25 s; allow for a slow machine. */
#define STUCK_VERDICT_MS (90 * 1000)
#define FAST_USEC (1000u * 1000u)

static Harness h;
static StallFs fs;
static char *mnt, *normal;
static int baseline_fds;

static void setup(void) {
        ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
        ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        ck_assert_int_eq(harness_setup(&h), 0);
        mnt = harness_path(&h, "mnt");
        normal = harness_path(&h, "normal");
        ck_assert_int_eq(mkdir(mnt, 0755), 0);
        ck_assert_int_eq(harness_fill_file(normal, 0644, 'n', 4096), 0);
        ck_assert_int_eq(stallfs_mount(&fs, mnt), 0);
        _cleanup_free_ char *grant = NULL;
        ck_assert_int_ge(asprintf(&grant, "[Grant]\nPath=%s\nUsers=0\n", mnt), 0);
        ck_assert_int_eq(harness_write_policy(&h, "mnt.conf", grant), 0);
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
}

static void teardown(void) {
        stallfs_unmount(&fs);
        ck_assert_int_eq(harness_finish(&h), 0);
        free(mnt);
        free(normal);
}

static int open_in_mount(const char *name) {
        _cleanup_free_ char *p = NULL;
        int fd;

        ck_assert_int_ge(asprintf(&p, "%s/%s", mnt, name), 0);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        ck_assert_msg(fd >= 0, "open %s: %m", p);
        return fd;
}

/* A snapshot of @fd over a fresh connection, answered within a second. */
static void assert_served_fast(int fd, uint8_t byte) {
        _cleanup_close_ int snap = -EBADF;
        uint64_t t0 = harness_now_usec(), dt;
        ProtoReply reply;
        uint8_t c;

        ck_assert_int_eq(raw_oneshot_fd(h.socket_path, fd, 0, &reply, &snap), 0);
        dt = harness_now_usec() - t0;
        ck_assert_msg(reply.status == 0, "%s", strerror(-reply.status));
        ck_assert_msg(dt < FAST_USEC, "served only after %llu us", (unsigned long long) dt);
        ck_assert_int_eq(pread(snap, &c, 1, 0), 1);
        ck_assert_int_eq(c, byte);
}

/* Sends snapshot requests for the stuck file; returns the connections. */
static void send_stuck(int socks[STUCK_CLIENTS]) {
        _cleanup_close_ int stuck = open_in_mount("stuck");
        ProtoRequest req = { .type = PROTO_REQUEST_SNAPSHOT_FD };
        uint8_t buf[RAW_BUFFER_SIZE];
        int len = proto_request_encode(&req, buf, sizeof(buf));

        ck_assert_int_gt(len, 0);
        for (int i = 0; i < STUCK_CLIENTS; i++) {
                ck_assert_int_eq(raw_connect(h.socket_path, &socks[i]), 0);
                ck_assert_int_eq(raw_send(socks[i], buf, (size_t) len, &stuck, 1), 0);
        }
}

START_TEST(test_stuck_file_does_not_stall_others) {
        _cleanup_close_ int data = open_in_mount("data"), file = open(normal, O_RDONLY | O_CLOEXEC);
        int socks[STUCK_CLIENTS];
        uint64_t t0;

        /* The file system works, and the daemon reads it. */
        assert_served_fast(data, 'f');
        assert_served_fast(file, 'n');
        usleep(200 * 1000);
        baseline_fds = harness_fd_count(&h);

        send_stuck(socks);
        t0 = harness_now_usec();
        /* While they hang, others come and go on time, through the same kind of file too. */
        while (harness_now_usec() - t0 < 3u * 1000u * 1000u) {
                _cleanup_close_ int sock = -EBADF;
                ProtoReply reply;

                assert_served_fast(file, 'n');
                ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
                ck_assert_int_eq(raw_status(sock, 1000, &reply), 0);
                ck_assert_int_eq(reply.status, 0);
                usleep(100 * 1000);
        }
        assert_served_fast(data, 'f');

        /* The stuck ones are given up on, not left hanging for ever. */
        for (int i = 0; i < STUCK_CLIENTS; i++) {
                ProtoReply reply;
                int r = raw_verdict(socks[i], STUCK_VERDICT_MS, &reply);

                ck_assert_msg(r == RAW_DROPPED || (r == RAW_REPLIED && reply.status == -ETIMEDOUT),
                              "stuck client %d: r=%d status=%d", i, r, r == RAW_REPLIED ? reply.status : 0);
                safe_close(socks[i]);
        }
        fprintf(stderr, "stuck requests ended after %.1f s\n", (double) (harness_now_usec() - t0) / 1e6);

        /* Once the file system is gone, the workers come back and nothing is left open. */
        stallfs_unmount(&fs);
        data = safe_close(data);
        int n = harness_wait_fd_count(&h, baseline_fds, 10000);
        ck_assert_msg(n <= baseline_fds, "daemon holds %d descriptors, %d before", n, baseline_fds);
        assert_served_fast(file, 'n');
}
END_TEST

START_TEST(test_sigterm_with_stuck_request) {
        int socks[STUCK_CLIENTS];
        uint64_t t0;
        int r;

        send_stuck(socks);
        usleep(300 * 1000);
        t0 = harness_now_usec();
        ck_assert_int_eq(kill(h.pid, SIGTERM), 0);
        /*
         * A thread inside a FUSE read that the server has taken is in an
         * uninterruptible wait (even SIGKILL waits for it): no process can
         * exit before the file system answers or goes away. What the daemon
         * controls is everything else: it stops taking connections...
         */
        usleep(6 * 1000 * 1000);
        {
                _cleanup_close_ int sock = -EBADF;
                ProtoReply reply;

                r = raw_connect(h.socket_path, &sock);
                if (r == 0)
                        r = raw_status(sock, 2000, &reply);
                ck_assert_msg(r < 0, "still serving 6 s after SIGTERM");
        }
        /* ...and exits cleanly as soon as the stuck reads fail. */
        stallfs_unmount(&fs);
        r = harness_stop(&h);
        if (r == -ESRCH)
                r = 0;
        fprintf(stderr, "SIGTERM with stuck requests: exit %d after %.1f s\n", r,
                (double) (harness_now_usec() - t0) / 1e6);
        ck_assert_int_eq(r, 0);
        for (int i = 0; i < STUCK_CLIENTS; i++)
                safe_close(socks[i]);
}
END_TEST

/* Path requests make the daemon resolve and open by itself: a hang there must not stall the loop either. */
START_TEST(test_stuck_open_and_lookup_do_not_stall_others) {
        _cleanup_close_ int file = open(normal, O_RDONLY | O_CLOEXEC);
        const char *const names[] = { "stuck-open", "stuck-lookup", "stuck-open", "stuck-lookup" };
        int socks[ELEMENTSOF(names)];
        ProtoReply reply;
        uint64_t t0;

        assert_served_fast(file, 'n');
        {
                _cleanup_free_ char *p = NULL;
                _cleanup_close_ int fd = -EBADF;

                ck_assert_int_ge(asprintf(&p, "%s/data", mnt), 0);
                ck_assert_int_eq(raw_oneshot_path(h.socket_path, p, 0, &reply, &fd), 0);
                ck_assert_msg(reply.status == 0, "granted FUSE file: %s", strerror(-reply.status));
        }
        usleep(200 * 1000);
        baseline_fds = harness_fd_count(&h);

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *p = NULL;
                ProtoRequest req = { .type = PROTO_REQUEST_SNAPSHOT_PATH };
                uint8_t buf[RAW_BUFFER_SIZE];
                int len;

                ck_assert_int_ge(asprintf(&p, "%s/%s", mnt, names[i]), 0);
                req.path = p;
                req.path_length = (uint32_t) strlen(p);
                len = proto_request_encode(&req, buf, sizeof(buf));
                ck_assert_int_gt(len, 0);
                ck_assert_int_eq(raw_connect(h.socket_path, &socks[i]), 0);
                ck_assert_int_eq(raw_send(socks[i], buf, (size_t) len, NULL, 0), 0);
        }
        t0 = harness_now_usec();
        while (harness_now_usec() - t0 < 3u * 1000u * 1000u) {
                assert_served_fast(file, 'n');
                usleep(100 * 1000);
        }
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                int r = raw_verdict(socks[i], STUCK_VERDICT_MS, &reply);

                ck_assert_msg(r == RAW_DROPPED || (r == RAW_REPLIED && reply.status == -ETIMEDOUT),
                              "%s: r=%d status=%d", names[i], r, r == RAW_REPLIED ? reply.status : 0);
                safe_close(socks[i]);
        }
        stallfs_unmount(&fs);
        int n = harness_wait_fd_count(&h, baseline_fds, 10000);
        ck_assert_msg(n <= baseline_fds, "daemon holds %d descriptors, %d before", n, baseline_fds);
        assert_served_fast(file, 'n');
}
END_TEST

/* More stuck requests than the daemon has workers: the rest are refused at once, and all recover. */
START_TEST(test_workers_exhausted) {
        const char *const args[] = { "--max-connections", "2000", "--max-connections-per-uid", "2000", NULL };
        enum { N = 600 };
        _cleanup_close_ int file = open(normal, O_RDONLY | O_CLOEXEC), stuck = -EBADF;
        ProtoRequest req = { .type = PROTO_REQUEST_SNAPSHOT_FD };
        uint8_t buf[RAW_BUFFER_SIZE];
        static int socks[N];
        int len, again = 0, pending = 0;
        uint64_t t0;

        ck_assert_int_eq(harness_stop(&h), 0);
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, args), 0);
        stuck = open_in_mount("stuck");
        len = proto_request_encode(&req, buf, sizeof(buf));
        ck_assert_int_gt(len, 0);
        for (int i = 0; i < N; i++) {
                ck_assert_int_eq(raw_connect(h.socket_path, &socks[i]), 0);
                ck_assert_int_eq(raw_send(socks[i], buf, (size_t) len, &stuck, 1), 0);
        }
        /* Those beyond the workers are answered -EAGAIN quickly; the rest hang. */
        t0 = harness_now_usec();
        static bool answered[N];
        for (int quiet_rounds = 0; quiet_rounds < 5 && harness_now_usec() - t0 < 15u * 1000u * 1000u;) {
                int before = again;

                usleep(200 * 1000);
                for (int i = 0; i < N; i++) {
                        ProtoReply reply;
                        int r;

                        if (answered[i])
                                continue;
                        r = raw_verdict(socks[i], 0, &reply);
                        if (r == -ETIMEDOUT)
                                continue;
                        ck_assert_msg(r == RAW_REPLIED && reply.status == -EAGAIN, "request %d: r=%d status=%d",
                                      i, r, r == RAW_REPLIED ? reply.status : 0);
                        answered[i] = true;
                        again++;
                }
                quiet_rounds = again == before ? quiet_rounds + 1 : 0;
        }
        pending = N - again;
        ck_assert_int_gt(again, 0);
        ck_assert_int_gt(pending, 0);
        fprintf(stderr, "%d stuck requests: %d pending, %d answered -EAGAIN\n", N, pending, again);
        /* The loop still answers: a status at once, a snapshot at once or with -EAGAIN. */
        {
                _cleanup_close_ int sock = -EBADF, fd = -EBADF;
                ProtoReply reply;

                ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
                ck_assert_int_eq(raw_status(sock, 1000, &reply), 0);
                ck_assert_int_eq(reply.status, 0);
                ck_assert_int_eq(raw_snapshot_fd(sock, file, 0, 1000, &reply, &fd), 0);
                ck_assert_msg(reply.status == 0 || reply.status == -EAGAIN, "%s", strerror(-reply.status));
        }
        for (int i = 0; i < N; i++)
                socks[i] = safe_close(socks[i]);
        stuck = safe_close(stuck);
        stallfs_unmount(&fs);
        /*
         * Once the file system is gone, workers come back. Until the
         * closed connections' sockets are closed too (by workers), new
         * connections of the uid may be refused (EMFILE) before the request.
         */
        uint64_t deadline = harness_now_usec() + 30u * 1000u * 1000u;
        for (;;) {
                _cleanup_close_ int fd = -EBADF;
                ProtoReply reply;
                int r = raw_oneshot_fd(h.socket_path, file, 0, &reply, &fd);

                ck_assert_msg(r == 0 || r == -ECONNRESET || r == -EPIPE, "%s", strerror(-r));
                if (r == 0 && reply.status == 0)
                        break;
                if (r == 0)
                        ck_assert_msg(reply.status == -EAGAIN || reply.status == -EMFILE, "%s",
                                      strerror(-reply.status));
                ck_assert_msg(harness_now_usec() < deadline, "workers never came back");
                usleep(100 * 1000);
        }
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s;

        if (harness_skip_without_fuse(NULL) != 0)
                return 77;

        s = harness_suite("stuck", 240, setup, teardown, &tc);
        tcase_add_test(tc, test_stuck_file_does_not_stall_others);
        tcase_add_test(tc, test_sigterm_with_stuck_request);
        tcase_add_test(tc, test_stuck_open_and_lookup_do_not_stall_others);
        tcase_add_test(tc, test_workers_exhausted);

        return harness_run_suite(s);
}
