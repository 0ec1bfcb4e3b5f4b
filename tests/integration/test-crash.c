/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * A daemon that dies (kill -9) must never hang its clients: the library
 * returns an error within a second, whether the daemon died before the
 * client connected, while it sat connected, or with its request in flight,
 * and without SAFE_MMAP_NO_FALLBACK it makes the snapshot itself. The one
 * second is a correctness bound with a wide margin, not a benchmark.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "raw-client.h"
#include "safe-mmap.h"

#define BOUND_USEC (1000u * 1000u)
#define FILE_SIZE 4096u

static Harness h;
static char *file_path;

static void setup(void) {
        ck_assert_int_eq(harness_setup(&h), 0);
        file_path = harness_path(&h, "data");
        ck_assert_int_eq(harness_fill_file(file_path, 0644, 'k', FILE_SIZE), 0);
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
}

static void teardown(void) {
        ck_assert_int_eq(harness_finish(&h), 0);
        free(file_path);
}

static void assert_local_snapshot(safe_mmap *m) {
        const uint8_t *p = safe_mmap_data(m);

        ck_assert_int_eq(safe_mmap_kind(m), SAFE_MMAP_SEALED_MEMFD);
        ck_assert_uint_eq(safe_mmap_size(m), FILE_SIZE);
        for (size_t i = 0; i < FILE_SIZE; i++)
                ck_assert_int_eq(p[i], 'k');
}

START_TEST(test_killed_before_connect) {
        safe_mmap *m = NULL;
        uint64_t t0, dt;
        int r;

        ck_assert_int_eq(harness_kill(&h), 128 + SIGKILL);

        t0 = harness_now_usec();
        r = safe_mmap_snapshot(file_path, SAFE_MMAP_NO_FALLBACK, &m);
        dt = harness_now_usec() - t0;
        ck_assert_msg(r < 0, "snapshot through a dead daemon succeeded");
        ck_assert_ptr_null(m);
        ck_assert_msg(dt < BOUND_USEC, "error only after %llu us", (unsigned long long) dt);

        t0 = harness_now_usec();
        r = safe_mmap_snapshot(file_path, 0, &m);
        dt = harness_now_usec() - t0;
        ck_assert_int_eq(r, 0);
        ck_assert_msg(dt < BOUND_USEC, "local snapshot only after %llu us", (unsigned long long) dt);
        assert_local_snapshot(m);
        safe_mmap_free(m);

        /* The stale socket left behind does not stop a new daemon from taking its place. */
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
        ck_assert_int_eq(safe_mmap_snapshot(file_path, SAFE_MMAP_NO_FALLBACK, &m), 0);
        safe_mmap_free(m);
}
END_TEST

START_TEST(test_killed_while_connected) {
        _cleanup_close_ int sock = -EBADF;
        ProtoReply reply;
        uint64_t t0, dt;

        ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
        ck_assert_int_eq(raw_status(sock, 30000, &reply), 0);
        ck_assert_int_eq(harness_kill(&h), 128 + SIGKILL);
        t0 = harness_now_usec();
        ck_assert_int_eq(raw_status(sock, 30000, &reply), -ECONNRESET);
        dt = harness_now_usec() - t0;
        ck_assert_msg(dt < BOUND_USEC, "EOF only after %llu us", (unsigned long long) dt);
}
END_TEST

typedef struct Call {
        unsigned flags;
        int result;
        uint64_t done_usec;
        safe_mmap *m;
} Call;

static void *call_thread(void *userdata) {
        Call *c = userdata;
        _cleanup_close_ int file = open(file_path, O_RDONLY | O_CLOEXEC);

        c->result = file < 0 ? -errno : safe_mmap_snapshot_fd(file, c->flags, &c->m);
        c->done_usec = harness_now_usec();
        return NULL;
}

/* The daemon is stopped, a client's request waits in its queue, then the daemon is killed. */
static void killed_in_flight(unsigned flags) {
        Call c = { .flags = flags, .result = 1 };
        pthread_t t;
        uint64_t killed;

        ck_assert_int_eq(kill(h.pid, SIGSTOP), 0);
        ck_assert_int_eq(pthread_create(&t, NULL, call_thread, &c), 0);
        usleep(300 * 1000);
        killed = harness_now_usec();
        ck_assert_int_eq(harness_kill(&h), 128 + SIGKILL);
        ck_assert_int_eq(pthread_join(t, NULL), 0);

        ck_assert_msg(c.done_usec >= killed, "the call returned before the daemon died (%d)", c.result);
        ck_assert_msg(c.done_usec - killed < BOUND_USEC, "the call returned %llu us after the kill",
                      (unsigned long long) (c.done_usec - killed));
        if (flags & SAFE_MMAP_NO_FALLBACK) {
                ck_assert_msg(c.result < 0, "NO_FALLBACK call succeeded without a daemon");
                ck_assert_ptr_null(c.m);
        } else {
                ck_assert_int_eq(c.result, 0);
                assert_local_snapshot(c.m);
                safe_mmap_free(c.m);
        }
}

START_TEST(test_killed_in_flight_no_fallback) {
        killed_in_flight(SAFE_MMAP_NO_FALLBACK);
}
END_TEST

START_TEST(test_killed_in_flight_fallback) {
        killed_in_flight(0);
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s;

        s = harness_suite("crash", 120, setup, teardown, &tc);
        tcase_add_test(tc, test_killed_before_connect);
        tcase_add_test(tc, test_killed_while_connected);
        tcase_add_test(tc, test_killed_in_flight_no_fallback);
        tcase_add_test(tc, test_killed_in_flight_fallback);

        return harness_run_suite(s);
}
