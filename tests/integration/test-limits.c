/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Limits a client runs into: the daemon's --max-size, a grant's MaxSize, the
 * request's own max_size, the per-uid byte budget, the overall byte budget
 * and the overall connection limit. Each is exact at its boundary and
 * answers with its documented errno.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "raw-client.h"
#include "safe-mmap.h"

#define MIB (UINT64_C(1) << 20)
#define KIB (UINT64_C(1) << 10)

static Harness h;

static void start(const char *const *args, bool with_grant) {
        _cleanup_free_ char *dir = NULL, *text = NULL;

        ck_assert_int_eq(harness_setup(&h), 0);
        dir = harness_path(&h, "granted");
        ck_assert_int_eq(mkdir(dir, 0755), 0);
        if (with_grant) {
                ck_assert_int_ge(asprintf(&text, "[Grant]\nPath=%s\nUsers=%u\nMaxSize=64K\n",
                                          dir, (unsigned) getuid()), 0);
                ck_assert_int_eq(harness_write_policy(&h, "limits.conf", text), 0);
        }
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, args), 0);
}

static void teardown(void) {
        ck_assert_int_eq(harness_finish(&h), 0);
}

static void make(const char *name, uint64_t size) {
        _cleanup_free_ char *p = harness_path(&h, name);

        ck_assert_int_eq(harness_fill_file(p, 0644, 'L', size), 0);
}

static int fd_request(const char *name, uint64_t max_size, ProtoReply *ret_reply) {
        _cleanup_free_ char *p = harness_path(&h, name);
        _cleanup_close_ int file = -EBADF, fd = -EBADF;
        int r;

        file = open(p, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(file, 0);
        r = raw_oneshot_fd(h.socket_path, file, max_size, ret_reply, &fd);
        ck_assert_int_eq(r, 0);
        ck_assert_int_eq(ret_reply->status == 0, fd >= 0);
        return ret_reply->status;
}

static int path_request(const char *name, ProtoReply *ret_reply) {
        _cleanup_free_ char *p = harness_path(&h, name);
        _cleanup_close_ int fd = -EBADF;

        ck_assert_int_eq(raw_oneshot_path(h.socket_path, p, 0, ret_reply, &fd), 0);
        return ret_reply->status;
}

START_TEST(test_max_size) {
        const char *const args[] = { "--max-size", "1M", NULL };
        _cleanup_free_ char *over = NULL;
        ProtoReply reply;
        safe_mmap *m = NULL;

        start(args, false);
        make("exact", MIB);
        make("over", MIB + 1);
        make("huge", 64 * MIB);

        ck_assert_int_eq(fd_request("exact", 0, &reply), 0);
        ck_assert_uint_eq(reply.size, MIB);
        ck_assert_int_eq(fd_request("over", 0, &reply), -EFBIG);
        ck_assert_int_eq(fd_request("huge", 0, &reply), -EFBIG);
        /* A request cannot raise the daemon's limit. */
        ck_assert_int_eq(fd_request("over", 2 * MIB, &reply), -EFBIG);

        over = harness_path(&h, "over");
        ck_assert_int_eq(safe_mmap_snapshot(over, SAFE_MMAP_NO_FALLBACK, &m), -EFBIG);
        ck_assert_ptr_null(m);
}
END_TEST

START_TEST(test_sparse_huge_file) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -EBADF;
        ProtoReply reply;
        uint64_t t0;

        start(NULL, false);
        p = harness_path(&h, "sparse");
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, (off_t) (UINT64_C(1) << 40)), 0);
        /* 1 TiB of holes against the default 256 MiB: refused, and not after reading a terabyte. */
        t0 = harness_now_usec();
        ck_assert_int_eq(fd_request("sparse", 0, &reply), -EFBIG);
        ck_assert_uint_lt(harness_now_usec() - t0, 30u * 1000u * 1000u);
}
END_TEST

START_TEST(test_request_max_size) {
        ProtoReply reply;

        start(NULL, false);
        make("4k", 4 * KIB);
        make("4k+1", 4 * KIB + 1);
        ck_assert_int_eq(fd_request("4k", 4 * KIB, &reply), 0);
        ck_assert_int_eq(fd_request("4k+1", 4 * KIB, &reply), -EFBIG);
        ck_assert_int_eq(fd_request("4k+1", 0, &reply), 0);
        /* Now cached: the cache must still apply the request's limit. */
        ck_assert_int_eq(fd_request("4k+1", 0, &reply), 0);
        ck_assert(reply.flags & PROTO_REPLY_CACHED);
        ck_assert_int_eq(fd_request("4k+1", 4 * KIB, &reply), -EFBIG);
}
END_TEST

START_TEST(test_grant_max_size) {
        ProtoReply reply;

        start(NULL, true);
        make("granted/exact", 64 * KIB);
        make("granted/over", 64 * KIB + 1);
        ck_assert_int_eq(path_request("granted/exact", &reply), 0);
        ck_assert_uint_eq(reply.size, 64 * KIB);
        ck_assert_int_eq(path_request("granted/over", &reply), -EFBIG);
        /* The grant limits path requests; a file the client opens itself is not under it. */
        ck_assert_int_eq(fd_request("granted/over", 0, &reply), 0);
        /* That snapshot is cached now, and the grant's limit still holds for path requests. */
        ck_assert_int_eq(path_request("granted/over", &reply), -EFBIG);
}
END_TEST

/* A daemon with @args (a budget of 2 MiB) and three files of 1 MiB: a, b and c. */
static void start_with_three(const char *const *args) {
        start(args, false);
        make("a", MIB);
        make("b", MIB);
        make("c", MIB);
}

/* Holds snapshots of a, b and c at once through one connection: the third is refused with @error. */
static void hold_three(int error) {
        _cleanup_close_ int sock = -EBADF;
        int fds[3] = { -EBADF, -EBADF, -EBADF };
        ProtoReply reply;
        int status[3];

        ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
        for (int i = 0; i < 3; i++) {
                _cleanup_free_ char *p = harness_path(&h, (const char *[]) { "a", "b", "c" }[i]);
                _cleanup_close_ int file = open(p, O_RDONLY | O_CLOEXEC);

                ck_assert_int_ge(file, 0);
                ck_assert_int_eq(raw_snapshot_fd(sock, file, 0, 30000, &reply, &fds[i]), 0);
                status[i] = reply.status;
        }
        ck_assert_int_eq(status[0], 0);
        ck_assert_int_eq(status[1], 0);
        ck_assert_int_eq(status[2], error);
        for (int i = 0; i < 3; i++)
                safe_close(fds[i]);
}

/* Whether c is served now; until then it may only be refused with *@userdata. */
static bool c_served(void *userdata) {
        ProtoReply reply;

        if (fd_request("c", 0, &reply) == 0)
                return true;
        ck_assert_int_eq(reply.status, *(const int *) userdata);
        return false;
}

/* The memory comes back within 10 s: c is served, after refusals with @error only. */
static void assert_room_comes_back(int error, const char *what) {
        ck_assert_msg(wait_until(c_served, &error, 10000, 50) == 0, "%s", what);
}

START_TEST(test_bytes_per_uid) {
        const char *const args[] = { "--max-bytes-per-uid", "2M", NULL };

        start_with_three(args);
        /* Three distinct 1 MiB snapshots held at once through one connection: the third is over budget. */
        hold_three(-EDQUOT);
        /* The budget comes back when the connection that held it is gone. */
        assert_room_comes_back(-EDQUOT, "budget never released");
}
END_TEST

START_TEST(test_bytes_per_uid_follow_mappings) {
        const char *const args[] = { "--max-bytes-per-uid", "2M", NULL };
        void *maps[2];
        ProtoReply reply;

        start_with_three(args);

        /* Map two snapshots, then close every descriptor and connection: the mappings still hold the memory. */
        for (int i = 0; i < 2; i++) {
                _cleanup_free_ char *p = harness_path(&h, i == 0 ? "a" : "b");
                _cleanup_close_ int file = open(p, O_RDONLY | O_CLOEXEC), fd = -EBADF;

                ck_assert_int_ge(file, 0);
                ck_assert_int_eq(raw_oneshot_fd(h.socket_path, file, 0, &reply, &fd), 0);
                ck_assert_int_eq(reply.status, 0);
                maps[i] = mmap(NULL, MIB, PROT_READ, MAP_PRIVATE, fd, 0);
                ck_assert(maps[i] != MAP_FAILED);
        }
        usleep(200 * 1000);
        ck_assert_int_eq(fd_request("c", 0, &reply), -EDQUOT);

        /* Unmapped, the memory is free and so is the budget. */
        for (int i = 0; i < 2; i++)
                ck_assert_int_eq(munmap(maps[i], MIB), 0);
        assert_room_comes_back(-EDQUOT, "budget never released after munmap");
}
END_TEST

/* --max-bytes: all snapshots together, whoever holds them. */
START_TEST(test_max_bytes) {
        const char *const args[] = { "--max-bytes", "2M", NULL };

        start_with_three(args);
        /* Not the uid's budget (1G by default): the daemon's own. */
        hold_three(-ENOSPC);
        /* Once nobody holds them, what only the cache keeps makes room. */
        assert_room_comes_back(-ENOSPC, "memory never came back");
}
END_TEST

START_TEST(test_cache_size) {
        const char *const args[] = { "--cache-size", "1M", NULL };
        _cleanup_close_ int sock = -EBADF;
        ProtoReply reply;

        start(args, false);
        for (int i = 0; i < 6; i++) {
                char name[16];

                snprintf(name, sizeof(name), "f%d", i);
                make(name, 512 * KIB);
                ck_assert_int_eq(fd_request(name, 0, &reply), 0);
        }
        /*
         * Nobody holds a snapshot now: what the daemon keeps is its cache,
         * within its budget (snapshots of departed clients may be noticed
         * as unused a little later).
         */
        ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
        uint64_t deadline = harness_now_usec() + 10000000u;
        for (;;) {
                ck_assert_int_eq(raw_status(sock, 30000, &reply), 0);
                ck_assert_int_eq(reply.status, 0);
                if (reply.bytes_held <= MIB || harness_now_usec() > deadline)
                        break;
                usleep(50 * 1000);
        }
        ck_assert_uint_le(reply.bytes_held, MIB);
        ck_assert_uint_le(reply.cache_entries, 2);
}
END_TEST

START_TEST(test_max_connections) {
        const char *const args[] = { "--max-connections", "3", NULL };
        int socks[6];
        int served = 0;

        start(args, false);
        for (size_t i = 0; i < ELEMENTSOF(socks); i++)
                ck_assert_int_eq(raw_connect(h.socket_path, &socks[i]), 0);
        usleep(300 * 1000);
        for (size_t i = 0; i < ELEMENTSOF(socks); i++) {
                ProtoReply reply;
                int r = raw_status(socks[i], 30000, &reply);

                if (r == 0 && reply.status == 0)
                        served++;
                else
                        ck_assert_msg(r == -ECONNRESET || (r == 0 && reply.status < 0),
                                      "connection %zu: %s", i, strerror(-r));
        }
        ck_assert_int_eq(served, 3);
        for (size_t i = 0; i < ELEMENTSOF(socks); i++)
                safe_close(socks[i]);
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s;

        s = harness_suite("limits", 120, NULL, teardown, &tc);
        tcase_add_test(tc, test_max_size);
        tcase_add_test(tc, test_request_max_size);
        tcase_add_test(tc, test_sparse_huge_file);
        tcase_add_test(tc, test_grant_max_size);
        tcase_add_test(tc, test_bytes_per_uid);
        tcase_add_test(tc, test_bytes_per_uid_follow_mappings);
        tcase_add_test(tc, test_max_bytes);
        tcase_add_test(tc, test_cache_size);
        tcase_add_test(tc, test_max_connections);

        return harness_run_suite(s);
}
