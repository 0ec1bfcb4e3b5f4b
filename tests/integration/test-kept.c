/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The library's kept connection against the real safe-mmapd: several
 * requests on one connection, a transparent reconnect when the daemon went
 * away and another took its socket, and no idle daemon kept from exiting
 * by a process that holds a connection and does nothing.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "raw-client.h"
#include "safe-mmap.h"

static Harness h;
static char *file_path;

static void setup(void) {
        ck_assert_int_eq(harness_setup(&h), 0);
        file_path = harness_path(&h, "data");
        ck_assert_int_eq(harness_fill_file(file_path, 0644, 'k', 4096), 0);
}

static void teardown(void) {
        ck_assert_int_eq(harness_finish(&h), 0);
        free(file_path);
}

/* A snapshot that only the daemon may make. */
static void snapshot_by_daemon(void) {
        _cleanup_close_ int fd = open(file_path, O_RDONLY | O_CLOEXEC);
        safe_mmap *m = NULL;
        int r;

        ck_assert_int_ge(fd, 0);
        r = safe_mmap_snapshot_fd(fd, SAFE_MMAP_NO_FALLBACK, &m);
        ck_assert_msg(r == 0, "snapshot through the daemon: %s", strerror(-r));
        ck_assert_uint_eq(safe_mmap_flags(m) & SAFE_MMAP_MADE_BY_DAEMON, SAFE_MMAP_MADE_BY_DAEMON);
        ck_assert_uint_eq(safe_mmap_size(m), 4096);
        ck_assert_int_eq(((const char *) safe_mmap_data(m))[4095], 'k');
        ck_assert_ptr_null(safe_mmap_free(m));
}

/* How many connections the daemon has open, counting the one that asks. */
static uint64_t daemon_connections(void) {
        _cleanup_close_ int sock = -EBADF;
        ProtoReply reply;

        ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
        ck_assert_int_eq(raw_status(sock, 30000, &reply), 0);
        ck_assert_int_eq(reply.status, 0);
        return reply.connections;
}

/* One connection for many requests: the daemon accepted one, and still has it. */
START_TEST(test_one_connection) {
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
        for (int i = 0; i < 20; i++)
                snapshot_by_daemon();
        ck_assert_int_eq(system("true"), 0); /* a child runs and goes: it does not take our connection along */
        snapshot_by_daemon();
        ck_assert_uint_eq(daemon_connections(), 2);
}
END_TEST

/* The daemon goes, another comes on the same socket: the next request just works. */
START_TEST(test_reconnect_after_restart) {
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
        snapshot_by_daemon();
        ck_assert_int_eq(harness_stop(&h), 0);
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
        snapshot_by_daemon();
        snapshot_by_daemon();
}
END_TEST

/*
 * A process that keeps its connection and does nothing does not keep the
 * daemon from exiting idle: the daemon drops the idle connection after its
 * --idle-timeout, then counts no connection.
 */
START_TEST(test_idle_exit) {
        int status;

        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, (const char *const[]) {
                                "--exit-idle", "1", "--idle-timeout", "1", NULL }),
                         0);
        snapshot_by_daemon();
        status = harness_wait_exit(&h, 20000);
        ck_assert_msg(status == 0, "the daemon did not exit idle within 20 s, or not cleanly: %d", status);

        /* And once it is back, the kept (dead) connection is replaced without a word. */
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
        snapshot_by_daemon();
}
END_TEST

/*
 * The idle exit counts requests, not connections: a process that keeps its
 * (idle) connection open, with no idle timeout to drop it, does not keep
 * the daemon running; the daemon ends the connection as it exits.
 */
START_TEST(test_idle_exit_kept_connection) {
        int status;

        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, (const char *const[]) {
                                "--exit-idle", "1", "--idle-timeout", "0", NULL }),
                         0);
        snapshot_by_daemon();
        ck_assert_uint_eq(daemon_connections(), 2); /* ours is kept */
        status = harness_wait_exit(&h, 20000);
        ck_assert_msg(status == 0, "the daemon did not exit idle within 20 s while a connection was kept, "
                      "or not cleanly: %d", status);

        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
        snapshot_by_daemon();
}
END_TEST

/*
 * Idle kept connections do not use up a uid's connections: at the limit the
 * uid's oldest idle one is dropped and the new one is served.
 */
START_TEST(test_limit_drops_oldest_idle) {
        _cleanup_close_ int extra = -EBADF;
        int socks[3] = { -EBADF, -EBADF, -EBADF };
        ProtoReply reply;

        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, (const char *const[]) {
                                "--max-connections-per-uid", "3", "--idle-timeout", "0", NULL }),
                         0);
        for (unsigned i = 0; i < ELEMENTSOF(socks); i++) {
                ck_assert_int_eq(raw_connect(h.socket_path, &socks[i]), 0);
                ck_assert_int_eq(raw_status(socks[i], 30000, &reply), 0);
                ck_assert_int_eq(reply.status, 0);
                ck_assert_uint_eq(reply.connections, i + 1);
        }
        /* A fourth: served, not refused. */
        ck_assert_int_eq(raw_connect(h.socket_path, &extra), 0);
        ck_assert_int_eq(raw_status(extra, 30000, &reply), 0);
        ck_assert_int_eq(reply.status, 0);
        ck_assert_uint_eq(reply.connections, 3);
        /* The oldest was the one dropped; the others still answer. */
        ck_assert_int_lt(raw_status(socks[0], 30000, &reply), 0);
        for (unsigned i = 1; i < ELEMENTSOF(socks); i++) {
                ck_assert_int_eq(raw_status(socks[i], 30000, &reply), 0);
                ck_assert_int_eq(reply.status, 0);
        }
        /* And the library's own kept connection, dropped the same way, reconnects without a word. */
        snapshot_by_daemon();
        for (unsigned i = 0; i < ELEMENTSOF(socks); i++)
                safe_close(socks[i]);
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s;

        (void) signal(SIGPIPE, SIG_DFL); /* the library must not need it ignored */
        s = harness_suite("kept", 120, setup, teardown, &tc);
        tcase_add_test(tc, test_one_connection);
        tcase_add_test(tc, test_reconnect_after_restart);
        tcase_add_test(tc, test_idle_exit);
        tcase_add_test(tc, test_idle_exit_kept_connection);
        tcase_add_test(tc, test_limit_drops_oldest_idle);
        return harness_run_suite(s);
}
