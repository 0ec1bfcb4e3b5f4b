/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The event loop's fast path on its own: a hit on tmpfs is answered (the
 * snapshot set as a worker would, the client's descriptor handed back to be
 * closed elsewhere), a miss goes to the pool with its checks made, and a file
 * on a mount that is not known to be unable to stall (procfs) is not even
 * looked at. Needs a tmpfs at /dev/shm (skipped otherwise).
 */

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "account.h"
#include "cache.h"
#include "daemon-test.h"
#include "fastpath.h"
#include "file-version.h"
#include "job.h"
#include "pool.h"

#define TMPFS_MAGIC_ 0x01021994

static const AccountLimits limits = {
        .max_bytes_per_uid = UINT64_C(1) << 30,
        .max_bytes = UINT64_C(1) << 30,
        .max_jobs_per_uid = 8,
        .max_jobs = 8,
        .max_connections_per_uid = 8,
        .max_connections = 8,
};

typedef struct World {
        sd_event *event;
        Pool *pool;
        FastPath *fastpath;
        Cache *cache;
        AccountTable accounts;
        Account *account;
} World;

static void world_init(World *w) {
        *w = (World) {};
        ck_assert_int_ge(sd_event_new(&w->event), 0);
        ck_assert_int_eq(pool_new(2, &w->pool), 0);
        ck_assert_int_eq(fastpath_new(w->event, w->pool, &w->fastpath), 0);
        ck_assert_int_eq(cache_new(UINT64_C(1) << 20, &w->cache), 0);
        account_table_init(&w->accounts, &limits);
        w->account = account_get(&w->accounts, getuid());
        ck_assert_ptr_nonnull(w->account);
}

static void world_done(World *w) {
        fastpath_free(w->fastpath);
        pool_free(w->pool);
        cache_free(w->cache);
        account_table_clear(&w->accounts);
        sd_event_unref(w->event);
}

/* What a worker does with a job it was handed: close the client's descriptor, then free it. */
static void job_done_here(Job *j) {
        j->client_fd = safe_close(j->client_fd);
        job_free(j);
}

/* A file in /dev/shm, if that is a tmpfs: its descriptor, or -1. */
static int shm_file(char *path, size_t size) {
        struct statfs sfs;
        int fd;

        if (statfs("/dev/shm", &sfs) < 0 || sfs.f_type != TMPFS_MAGIC_)
                return -1;
        snprintf(path, size, "/dev/shm/test-fastpath.%d", (int) getpid());
        ck_assert_int_eq(write_file(path, 0644, "0123456789abcdef", 16), 0);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        return fd;
}

START_TEST(test_hit_and_miss) {
        char path[64];
        int fd = shm_file(path, sizeof(path)), client_fd = -EBADF;
        Snapshot *s;
        FileVersion key;
        Source src;
        World w;
        Job *j;

        if (fd < 0) {
                fprintf(stderr, "SKIP: /dev/shm is not a tmpfs\n");
                return;
        }
        world_init(&w);

        /* A miss: for the pool, with the checks made and kept in the job. */
        ck_assert_int_eq(job_new_snapshot_fd(w.account, w.cache, fcntl(fd, F_DUPFD_CLOEXEC, 3), 1 << 20, &j), 0);
        ck_assert(!fastpath_try(w.fastpath, j, &client_fd));
        ck_assert_int_eq(client_fd, -EBADF);
        ck_assert(j->src.checked);
        ck_assert_int_eq(j->src.fd, -EBADF);
        ck_assert_int_eq(j->src.stx.stx_size, 16);
        ck_assert_ptr_null(j->snapshot);
        job_done_here(j);

        /* The cache holds that version now: a hit, answered, the descriptor handed back. */
        ck_assert_int_eq(resolve_fd_check(fd, &src), 0);
        file_version_from_statx(&src.stx, &key);
        s = make_snapshot(16, 'x');
        s->key = key;
        s->consistent = true;
        snapshot_unref(cache_insert(w.cache, s));
        ck_assert_int_eq(job_new_snapshot_fd(w.account, w.cache, fcntl(fd, F_DUPFD_CLOEXEC, 3), 1 << 20, &j), 0);
        ck_assert(fastpath_try(w.fastpath, j, &client_fd));
        ck_assert_int_ge(client_fd, 0);
        ck_assert_int_eq(j->client_fd, -EBADF);
        ck_assert_ptr_eq(j->snapshot, s);
        ck_assert(j->cached);
        ck_assert_int_eq(j->result, 0);
        ck_assert_uint_eq(fastpath_answered(w.fastpath), 1);
        safe_close(client_fd);
        client_fd = -EBADF;
        job_free(j);

        /* Over the request's size limit: a worker refuses it, as ever. */
        ck_assert_int_eq(job_new_snapshot_fd(w.account, w.cache, fcntl(fd, F_DUPFD_CLOEXEC, 3), 8, &j), 0);
        ck_assert(!fastpath_try(w.fastpath, j, &client_fd));
        job_done_here(j);

        snapshot_unref(s);
        world_done(&w);
        safe_close(fd);
        (void) unlink(path);
}
END_TEST

/* procfs is not a file system that cannot stall: nothing is checked on the loop. */
START_TEST(test_other_mounts_go_to_the_pool) {
        int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC), client_fd = -EBADF;
        World w;
        Job *j;

        ck_assert_int_ge(fd, 0);
        world_init(&w);
        ck_assert_int_eq(job_new_snapshot_fd(w.account, w.cache, fd, 1 << 20, &j), 0);
        ck_assert(!fastpath_try(w.fastpath, j, &client_fd));
        ck_assert(!j->src.checked);
        ck_assert_int_eq(client_fd, -EBADF);
        job_done_here(j);
        world_done(&w);
}
END_TEST

int main(void) {
        const TTest *const tests[] = { test_hit_and_miss, test_other_mounts_go_to_the_pool };

        return run_tests("fastpath", tests, ELEMENTSOF(tests));
}
