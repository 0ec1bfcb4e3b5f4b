/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Every limit a uid can run into, exact at its boundary and with its errno:
 * connections, jobs, memory reserved by copies and charged for snapshots,
 * and the quarter that subordinate uids share.
 */

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>

#include "account.h"
#include "daemon-test.h"

#define KIB UINT64_C(1024)

static const AccountLimits limits = {
        .max_bytes_per_uid = 64 * KIB,
        .max_bytes = 128 * KIB,
        .max_jobs_per_uid = 3,
        .max_jobs = 8,
        .max_connections_per_uid = 2,
        .max_connections = 8,
};

START_TEST(test_connections) {
        AccountTable t;
        Account *a, *b;

        account_table_init(&t, &limits);
        a = account_get(&t, 1000);
        ck_assert_ptr_eq(account_get(&t, 1000), a);
        for (int i = 0; i < 2; i++) {
                ck_assert_int_eq(account_connection_admit(a), 0);
                account_connection_add(a);
        }
        ck_assert_int_eq(account_connection_admit(a), -EMFILE);
        /* Closing ones count apart, up to ACCOUNT_CLOSING_PER_CONNECTION times the limit. */
        account_connection_closing(a);
        account_connection_closing(a);
        ck_assert_int_eq(a->n_connections, 0);
        for (unsigned i = 2; i < 2 * ACCOUNT_CLOSING_PER_CONNECTION; i++) {
                ck_assert_int_eq(account_connection_admit(a), 0);
                account_connection_add(a);
                account_connection_closing(a);
        }
        ck_assert_int_eq(a->n_closing, 2 * ACCOUNT_CLOSING_PER_CONNECTION);
        ck_assert_int_eq(account_connection_admit(a), -EMFILE);
        account_closing_done(a);
        ck_assert_int_eq(account_connection_admit(a), 0);
        for (unsigned i = 1; i < 2 * ACCOUNT_CLOSING_PER_CONNECTION; i++)
                account_closing_done(a);
        ck_assert_int_eq(a->n_closing, 0);

        /* Refused sockets wait for a worker on the account; disposals running have their own bound. */
        for (unsigned i = 0; i < 2 * ACCOUNT_PENDING_PER_CONNECTION; i++)
                ck_assert_int_eq(account_pend_fd(a, 1000 + (int) i), 0);
        ck_assert_int_eq(account_pend_fd(a, 1), -ENOBUFS);
        ck_assert_int_eq(a->pending_fds[0], 1000);
        a->n_pending_fds = 0;
        for (int i = 0; i < 3; i++) {
                ck_assert(account_may_dispose(a));
                a->n_disposing++;
        }
        ck_assert(!account_may_dispose(a));
        a->n_disposing = 0;

        /* Overall. */
        for (uid_t u = 0; u < 8; u++) {
                b = account_get(&t, 2000 + u);
                ck_assert_int_eq(account_connection_admit(b), 0);
                account_connection_add(b);
        }
        ck_assert_int_eq(account_connection_admit(a), -ENFILE);
        account_table_clear(&t);
}
END_TEST

START_TEST(test_subordinate_share) {
        AccountTable t;
        Account *a;

        account_table_init(&t, &limits);
        /* Subordinate uids share a quarter of the 8 connections and 8 jobs: 2. */
        for (uid_t u = 0; u < 2; u++) {
                a = account_get(&t, ACCOUNT_SUBORDINATE_UID_MIN + u);
                ck_assert_int_eq(account_connection_admit(a), 0);
                account_connection_add(a);
                ck_assert_int_eq(account_job_admit(a), 0);
                account_job_add(a);
        }
        a = account_get(&t, ACCOUNT_SUBORDINATE_UID_MIN + 100);
        ck_assert_int_eq(account_connection_admit(a), -ENFILE);
        ck_assert_int_eq(account_job_admit(a), -ENOBUFS);
        /* The uids below keep the rest. */
        a = account_get(&t, ACCOUNT_SUBORDINATE_UID_MIN - 1);
        ck_assert_int_eq(account_connection_admit(a), 0);
        ck_assert_int_eq(account_job_admit(a), 0);
        account_table_clear(&t);
}
END_TEST

START_TEST(test_jobs) {
        AccountTable t;
        Account *a;

        account_table_init(&t, &limits);
        a = account_get(&t, 1000);
        for (int i = 0; i < 3; i++) {
                ck_assert_int_eq(account_job_admit(a), 0);
                account_job_add(a);
        }
        ck_assert_int_eq(account_job_admit(a), -EAGAIN);
        for (uid_t u = 0; u < 5; u++)
                account_job_add(account_get(&t, 3000 + u));
        ck_assert_int_eq(t.n_jobs, 8);
        ck_assert_int_eq(account_job_admit(account_get(&t, 4000)), -ENOBUFS);
        account_job_remove(a);
        ck_assert_int_eq(account_job_admit(account_get(&t, 4000)), 0);
        account_table_clear(&t);
}
END_TEST

START_TEST(test_reserve_grows_to_budget) {
        AccountTable t;
        Account *a, *b;
        uint64_t ra = 0, rb = 0;

        account_table_init(&t, &limits);
        a = account_get(&t, 1000);
        b = account_get(&t, 1001);
        ck_assert_int_eq(account_reserve(a, &ra, 16 * KIB), 0);
        ck_assert_int_eq(account_reserve(a, &ra, 8 * KIB), 0); /* never shrinks */
        ck_assert_uint_eq(ra, 16 * KIB);
        ck_assert_int_eq(account_reserve(a, &ra, 64 * KIB), 0);
        ck_assert_int_eq(account_reserve(a, &ra, 64 * KIB + 1), -EDQUOT);
        ck_assert_uint_eq(ra, 64 * KIB);
        ck_assert_uint_eq(a->reserved, 64 * KIB);
        /* Overall: 128 KiB, of which a holds 64. */
        ck_assert_int_eq(account_reserve(b, &rb, 64 * KIB + 1), -EDQUOT);
        ck_assert_int_eq(account_reserve(b, &rb, 64 * KIB), 0);
        ck_assert_uint_eq(t.reserved, 128 * KIB);
        ck_assert_int_eq(account_settle(a, &ra, NULL), 0);
        ck_assert_uint_eq(ra, 0);
        ck_assert_uint_eq(a->reserved, 0);
        ck_assert_uint_eq(t.reserved, 64 * KIB);
        ck_assert_int_eq(account_settle(b, &rb, NULL), 0);
        ck_assert_uint_eq(t.reserved, 0);
        account_table_clear(&t);
}
END_TEST

START_TEST(test_reserve_overall) {
        AccountLimits l = limits;
        AccountTable t;
        uint64_t r[3] = {};

        l.max_bytes = 96 * KIB;
        account_table_init(&t, &l);
        ck_assert_int_eq(account_reserve(account_get(&t, 1), &r[0], 48 * KIB), 0);
        ck_assert_int_eq(account_reserve(account_get(&t, 2), &r[1], 48 * KIB), 0);
        ck_assert_int_eq(account_reserve(account_get(&t, 3), &r[2], 4 * KIB), -ENOSPC);
        ck_assert_uint_eq(account_get(&t, 3)->reserved, 0);
        for (int i = 0; i < 3; i++)
                (void) account_settle(account_get(&t, (uid_t) i + 1), &r[i], NULL);
        account_table_clear(&t);
}
END_TEST

START_TEST(test_settle_charges_once) {
        AccountTable t;
        Account *a;
        Snapshot *s = make_snapshot(40 * KIB, 'a'), *s2 = make_snapshot(40 * KIB, 'b');
        uint64_t r = 0;

        account_table_init(&t, &limits);
        a = account_get(&t, 1000);
        ck_assert_int_eq(account_reserve(a, &r, s->cost), 0);
        ck_assert_int_eq(account_settle(a, &r, s), 0);
        ck_assert_uint_eq(a->bytes, s->cost);
        ck_assert_uint_eq(a->reserved, 0);
        /* The same snapshot again costs nothing more. */
        ck_assert_int_eq(account_settle(a, &r, s), 0);
        ck_assert_uint_eq(a->bytes, s->cost);
        ck_assert_uint_eq(a->n_holders, 1);
        /* The daemon's own descriptor is the only one: nobody holds it, the charge goes. */
        account_release_unused(a);
        ck_assert_uint_eq(a->bytes, 0);
        ck_assert_int_eq(account_settle(a, &r, s), 0);

        /* A client that still holds it keeps it charged; a second one does not fit 64 KiB. */
        {
                _cleanup_close_ int held = -EBADF;

                ck_assert_int_eq(snapshot_open_for_client(s, &held), 0);
                account_release_unused(a);
                ck_assert_uint_eq(a->bytes, s->cost);
                ck_assert_int_eq(account_settle(a, &r, s2), -EDQUOT);
        }
        account_release_unused(a);
        ck_assert_int_eq(account_settle(a, &r, s2), 0);
        snapshot_unref(s);
        snapshot_unref(s2);
        account_table_clear(&t);
}
END_TEST

/*
 * What a request probes does not grow with what its uid holds: with 1,000
 * snapshots held, a request probes ACCOUNT_PROBES_PER_REQUEST of them, and
 * charging one it holds already probes none; round robin, every snapshot
 * let go of is still released within 1,000 / ACCOUNT_PROBES_PER_REQUEST
 * requests.
 */
START_TEST(test_probes_bounded) {
        enum { N = 1000 };
        AccountLimits big = limits;
        static Snapshot *s[N];
        static int held[N];
        struct rlimit rl;
        AccountTable t;
        uint64_t before, r = 0;
        unsigned calls = 0;
        Account *a;

        /* Two descriptors per snapshot: the daemon's and the client's. */
        ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
        if (rl.rlim_max < 2 * N + 64)
                return (void) printf("SKIP: RLIMIT_NOFILE hard limit %ju is too low\n", (uintmax_t) rl.rlim_max);
        rl.rlim_cur = rl.rlim_max;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);

        big.max_bytes_per_uid = big.max_bytes = UINT64_C(1) << 30;
        account_table_init(&t, &big);
        a = account_get(&t, 1000);
        for (int i = 0; i < N; i++) {
                s[i] = make_snapshot(16, (char) ('a' + i % 26));
                ck_assert_int_eq(account_settle(a, &r, s[i]), 0);
                ck_assert_int_eq(snapshot_open_for_client(s[i], &held[i]), 0);
        }
        ck_assert_uint_eq(a->n_holders, N);

        before = t.n_probes;
        account_release_some(a);
        ck_assert_uint_eq(t.n_probes - before, ACCOUNT_PROBES_PER_REQUEST);
        ck_assert_uint_eq(a->n_holders, N);
        before = t.n_probes;
        ck_assert_int_eq(account_settle(a, &r, s[N / 2]), 0);
        ck_assert_uint_eq(t.n_probes - before, 0);

        for (int i = 0; i < N; i++)
                held[i] = safe_close(held[i]);
        while (a->n_holders > 0) {
                before = t.n_probes;
                account_release_some(a);
                ck_assert_uint_le(t.n_probes - before, ACCOUNT_PROBES_PER_REQUEST);
                ck_assert_uint_le(++calls, N / ACCOUNT_PROBES_PER_REQUEST + 1);
        }
        ck_assert_uint_eq(a->bytes, 0);
        for (int i = 0; i < N; i++)
                snapshot_unref(s[i]);
        account_table_clear(&t);
}
END_TEST

START_TEST(test_gc) {
        AccountTable t;
        Account *a;

        account_table_init(&t, &limits);
        a = account_get(&t, 1000);
        account_job_add(a);
        account_table_gc(&t);
        ck_assert_uint_eq(t.n_accounts, 1);
        account_job_remove(a);
        account_table_gc(&t);
        ck_assert_uint_eq(t.n_accounts, 0);
}
END_TEST

int main(void) {
        const TTest *const tests[] = {
                test_connections, test_subordinate_share, test_jobs, test_reserve_grows_to_budget,
                test_reserve_overall, test_settle_charges_once, test_probes_bounded, test_gc,
        };

        return run_tests("account", tests, ELEMENTSOF(tests));
}
