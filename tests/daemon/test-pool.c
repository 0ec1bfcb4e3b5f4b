/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The worker pool: never more threads than its bound however much work
 * waits, every piece of work comes back exactly once, and work that never
 * ends holds one thread, not the queue behind it.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "daemon-test.h"
#include "macro.h"
#include "pool.h"

typedef struct Item {
        PoolWork work;          /* first */
        int block_fd;           /* >= 0: wait until it is readable */
        bool ran;
} Item;

static unsigned running, max_running;

static void item_run(PoolWork *w) {
        Item *it = (Item *) w;
        unsigned now = __atomic_add_fetch(&running, 1, __ATOMIC_SEQ_CST);
        unsigned seen = __atomic_load_n(&max_running, __ATOMIC_SEQ_CST);

        while (now > seen && !__atomic_compare_exchange_n(&max_running, &seen, now, false, __ATOMIC_SEQ_CST,
                                                          __ATOMIC_SEQ_CST))
                ;
        if (it->block_fd >= 0) {
                struct pollfd p = { .fd = it->block_fd, .events = POLLIN };

                (void) poll(&p, 1, -1);
        } else
                usleep(1000);
        it->ran = true;
        __atomic_sub_fetch(&running, 1, __ATOMIC_SEQ_CST);
}

/* Takes back finished work until @n items came back or @timeout_ms passed; returns how many. */
static unsigned take_back(Pool *p, unsigned n, int timeout_ms) {
        unsigned got = 0;

        while (got < n) {
                struct pollfd pfd = { .fd = pool_get_fd(p), .events = POLLIN };

                if (poll(&pfd, 1, timeout_ms) <= 0)
                        break;
                List done = LIST_INIT(done);
                PoolWork *w;

                pool_take_done(p, &done);
                LIST_FOREACH_SAFE(w, next, &done, PoolWork, link) {
                        ck_assert(((Item *) w)->ran);
                        list_unlink(&w->link);
                        got++;
                }
        }
        return got;
}

START_TEST(test_bounded_threads) {
        enum { N = 300, MAX = 4 };
        static Item items[N];
        Pool *p;

        running = max_running = 0;
        ck_assert_int_eq(pool_new(MAX, &p), 0);
        for (int i = 0; i < N; i++) {
                items[i] = (Item) { .work.run = item_run, .block_fd = -EBADF };
                ck_assert_int_eq(pool_submit(p, &items[i].work), 0);
                ck_assert_uint_le(pool_threads(p), MAX);
        }
        ck_assert_uint_eq(take_back(p, N, 10000), N);
        ck_assert_uint_le(max_running, MAX);
        ck_assert_uint_eq(pool_in_flight(p), 0);
        ck_assert_uint_le(pool_threads(p), MAX);
        pool_free(p);
}
END_TEST

START_TEST(test_stuck_work_holds_one_thread) {
        enum { N = 20 };
        static Item items[N], blocker;
        int pipefd[2];
        Pool *p;

        ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
        ck_assert_int_eq(pool_new(2, &p), 0);
        blocker = (Item) { .work.run = item_run, .block_fd = pipefd[0] };
        ck_assert_int_eq(pool_submit(p, &blocker.work), 0);
        for (int i = 0; i < N; i++) {
                items[i] = (Item) { .work.run = item_run, .block_fd = -EBADF };
                ck_assert_int_eq(pool_submit(p, &items[i].work), 0);
        }
        /* Everything but the blocker comes back while it blocks. */
        ck_assert_uint_eq(take_back(p, N, 10000), N);
        ck_assert(!blocker.ran);
        ck_assert_uint_eq(pool_in_flight(p), 1);
        ck_assert_int_eq(write(pipefd[1], "x", 1), 1);
        ck_assert_uint_eq(take_back(p, 1, 10000), 1);
        ck_assert_uint_eq(pool_in_flight(p), 0);
        pool_free(p);
        safe_close(pipefd[0]);
        safe_close(pipefd[1]);
}
END_TEST

START_TEST(test_bad_bound) {
        Pool *p = NULL;

        ck_assert_int_eq(pool_new(0, &p), -EINVAL);
        ck_assert_ptr_null(p);
}
END_TEST

int main(void) {
        const TTest *const tests[] = { test_bounded_threads, test_stuck_work_holds_one_thread, test_bad_bound };

        return run_tests("pool", tests, ELEMENTSOF(tests));
}
