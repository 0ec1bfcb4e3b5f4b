/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Fairness between uids, against the real daemon and real users: one uid
 * flooding slow requests does not take the service from another; worker
 * threads stay within a fixed bound whatever the flood; a file that lies
 * about its size hits the uid's budget at the budget; a job whose client hung
 * up stops copying; subordinate uids share a quarter of the connections, and
 * a refused client is told which limit before the close. Root suite: clients
 * run as other uids, and the slow files live on stallfs (a private mount
 * namespace).
 */

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "raw-client.h"
#include "run-as.h"
#include "stallfs.h"

/* The daemon's worker bound (MANAGER_WORKERS_MAX), its main thread, and room for a sanitizer's. */
#define WORKERS_MAX 128
#define TASKS_MAX (WORKERS_MAX + 4)
#define FLOOD_USEC (3u * 1000u * 1000u)
#define VICTIM_UID 1
#define VICTIM_REQUESTS 200

static Harness h;
static StallFs fs;
static char *mnt, *normal;
/*
 * Opened once, before any read hangs: FUSE invalidates the page cache at
 * every open, and that waits for the page a stuck read holds locked.
 */
static int stuck = -EBADF;

static void setup_with(const char *const *args) {
        ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
        ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        ck_assert_int_eq(harness_setup(&h), 0);
        mnt = harness_path(&h, "mnt");
        normal = harness_path(&h, "normal");
        ck_assert_int_eq(mkdir(mnt, 0755), 0);
        ck_assert_int_eq(harness_fill_file(normal, 0644, 'n', 4096), 0);
        ck_assert_int_eq(stallfs_mount(&fs, mnt), 0);
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, args), 0);
}

static void teardown(void) {
        stuck = safe_close(stuck);
        stallfs_unmount(&fs);
        ck_assert_int_eq(harness_finish(&h), 0);
        free(mnt);
        free(normal);
}

static char *in_mount(const char *name) {
        char *p;

        ck_assert_int_ge(asprintf(&p, "%s/%s", mnt, name), 0);
        return p;
}

/* Forks a child that runs @fn as @uid (gid the same, no groups) and exits with its result. */
static pid_t spawn_as(uid_t uid, run_as_fn fn, void *userdata) {
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (setgroups(0, NULL) < 0 || setgid((gid_t) uid) < 0 || setuid(uid) < 0)
                        _exit(2);
                _exit(fn(userdata) == 0 ? 0 : 1);
        }
        return pid;
}

static int wait_child(pid_t pid) {
        int status;

        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int count_tasks(pid_t pid) {
        char path[64];
        DIR *d;
        int n = 0;

        snprintf(path, sizeof(path), "/proc/%i/task", (int) pid);
        d = opendir(path);
        if (!d)
                return -errno;
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

static void open_stuck(void) {
        _cleanup_free_ char *p = in_mount("stuck");

        stuck = open(p, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(stuck, 0);
}

/* Requests for a file that never answers, each abandoned at once, for FLOOD_USEC. */
static int flood(void *userdata) {
        ProtoRequest req = { .type = PROTO_REQUEST_SNAPSHOT_FD };
        uint8_t buf[RAW_BUFFER_SIZE];
        int len = proto_request_encode(&req, buf, sizeof(buf)), sent = 0;

        for (uint64_t t0 = harness_now_usec(); harness_now_usec() - t0 < FLOOD_USEC;) {
                _cleanup_close_ int sock = -EBADF;

                if (raw_connect(h.socket_path, &sock) == 0 && raw_send(sock, buf, (size_t) len, &stuck, 1) == 0)
                        sent++;
                usleep(2000);
        }
        if (userdata)
                fprintf(stderr, "flooding uid %u: %d abandoned requests\n", (unsigned) getuid(), sent);
        return 0;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

/* Another uid's requests during the flood: every one must succeed. */
static int victim(void *userdata) {
        static uint64_t lat[VICTIM_REQUESTS];
        _cleanup_close_ int file = open(normal, O_RDONLY | O_CLOEXEC);

        CHILD_CHECK_INT(file, >=, 0);
        usleep(300 * 1000); /* the flood is on */
        for (int i = 0; i < VICTIM_REQUESTS; i++) {
                _cleanup_close_ int snap = -EBADF;
                uint64_t t0 = harness_now_usec();
                ProtoReply reply;

                CHILD_CHECK_INT(raw_oneshot_fd(h.socket_path, file, 0, &reply, &snap), ==, 0);
                lat[i] = harness_now_usec() - t0;
                CHILD_CHECK_INT(reply.status, ==, 0);
                usleep(10 * 1000);
        }
        qsort(lat, VICTIM_REQUESTS, sizeof(lat[0]), cmp_u64);
        fprintf(stderr, "uid %u during the flood: %d/%d served, latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
                (unsigned) getuid(), VICTIM_REQUESTS, VICTIM_REQUESTS, lat[VICTIM_REQUESTS / 2] / 1000.0,
                lat[VICTIM_REQUESTS * 99 / 100] / 1000.0, lat[VICTIM_REQUESTS - 1] / 1000.0);
        CHILD_CHECK_INT(lat[VICTIM_REQUESTS * 99 / 100], <, 1000u * 1000u);
        return 0;
}

START_TEST(test_flood_leaves_other_uids_alone) {
        pid_t flooder, served;
        int max_tasks = 0;

        setup_with(NULL);
        open_stuck();
        flooder = spawn_as(NOBODY_UID, flood, (void *) 1);
        served = spawn_as(VICTIM_UID, victim, NULL);
        for (uint64_t t0 = harness_now_usec(); harness_now_usec() - t0 < FLOOD_USEC;) {
                int n = count_tasks(h.pid);

                if (n > max_tasks)
                        max_tasks = n;
                usleep(10 * 1000);
        }
        ck_assert_int_eq(wait_child(flooder), 0);
        ck_assert_int_eq(wait_child(served), 0);
        fprintf(stderr, "one flooding uid: at most %d threads in the daemon\n", max_tasks);
        ck_assert_int_le(max_tasks, TASKS_MAX);
}
END_TEST

/* Many uids flood at once: the threads stay within the bound however many jobs wait. */
START_TEST(test_threads_bounded) {
        enum { N = 24 };
        pid_t flooders[N];
        int max_tasks = 0;

        setup_with(NULL);
        open_stuck();
        for (int i = 0; i < N; i++)
                flooders[i] = spawn_as(2000 + i, flood, NULL);
        for (uint64_t t0 = harness_now_usec(); harness_now_usec() - t0 < FLOOD_USEC;) {
                int n = count_tasks(h.pid);

                if (n > max_tasks)
                        max_tasks = n;
                usleep(5 * 1000);
        }
        for (int i = 0; i < N; i++)
                ck_assert_int_eq(wait_child(flooders[i]), 0);
        fprintf(stderr, "%d flooding uids: at most %d threads in the daemon (bound %d + main)\n", N, max_tasks,
                WORKERS_MAX);
        ck_assert_int_le(max_tasks, TASKS_MAX);
}
END_TEST

/* "endless" says 4096 bytes and never ends: the copy hits the uid's budget, not the size limit. */
START_TEST(test_lying_size_hits_budget) {
        const char *const args[] = { "--max-size", "1G", "--max-bytes-per-uid", "16M", NULL };
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int file = -EBADF, snap = -EBADF;
        ProtoReply reply;
        uint64_t t0, reads;

        setup_with(args);
        p = in_mount("endless");
        file = open(p, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(file, 0);
        t0 = harness_now_usec();
        ck_assert_int_eq(raw_oneshot_fd(h.socket_path, file, 0, &reply, &snap), 0);
        reads = stallfs_endless_reads(&fs);
        fprintf(stderr, "lying file: %s after %.2f s and %llu reads of 128 KiB\n", strerror(-reply.status),
                (double) (harness_now_usec() - t0) / 1e6, (unsigned long long) reads);
        ck_assert_int_eq(reply.status, -EDQUOT);
        /* 16 MiB is 128 reads of 128 KiB (and a probe per chunk); never the gigabyte the size limit allows. */
        ck_assert_uint_le(reads, 2u * (16u * 8u + 16u));
}
END_TEST

static int endless_then_hang_up(void *userdata) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int file = -EBADF, sock = -EBADF;
        ProtoRequest req = { .type = PROTO_REQUEST_SNAPSHOT_FD };
        uint8_t buf[RAW_BUFFER_SIZE];
        int len = proto_request_encode(&req, buf, sizeof(buf));

        CHILD_CHECK(asprintf(&p, "%s/endless", mnt) >= 0);
        file = open(p, O_RDONLY | O_CLOEXEC);
        CHILD_CHECK_INT(file, >=, 0);
        CHILD_CHECK_INT(raw_connect(h.socket_path, &sock), ==, 0);
        CHILD_CHECK_INT(raw_send(sock, buf, (size_t) len, &file, 1), ==, 0);
        usleep(300 * 1000);
        return 0; /* hangs up */
}

/* A client that hangs up mid-copy: the copy stops at its next chunk, and the uid's slot comes back. */
START_TEST(test_hung_up_client_cancels_copy) {
        const char *const args[] = { "--max-size", "1G", "--max-bytes-per-uid", "2G", "--max-jobs-per-uid", "1",
                                     NULL };
        _cleanup_close_ int file = -EBADF;
        uint64_t before, after;

        setup_with(args);
        ck_assert_int_eq(run_as(NOBODY_UID, NOBODY_GID, NULL, 0, 30, endless_then_hang_up, NULL), 0);
        ck_assert_uint_gt(stallfs_endless_reads(&fs), 0);
        usleep(500 * 1000);
        before = stallfs_endless_reads(&fs);
        usleep(1000 * 1000);
        after = stallfs_endless_reads(&fs);
        fprintf(stderr, "after the hang-up: %llu reads, then %llu more in a second\n", (unsigned long long) before,
                (unsigned long long) (after - before));
        ck_assert_uint_eq(after, before);

        /* The uid's one job slot is free again. */
        file = open(normal, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(file, 0);
        {
                _cleanup_close_ int snap = -EBADF;
                ProtoReply reply;

                ck_assert_int_eq(raw_oneshot_fd(h.socket_path, file, 0, &reply, &snap), 0);
                ck_assert_int_eq(reply.status, 0);
        }
}
END_TEST

/* A connection made by @uid, handed back to us: its peer credentials stay those of @uid. */
static int connect_as(uid_t uid) {
        int pair[2], fds[RAW_MAX_FDS];
        uint8_t buf[8];
        size_t n_fds = 0;
        pid_t pid;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int sock;

                if (setgroups(0, NULL) < 0 || setgid((gid_t) uid) < 0 || setuid(uid) < 0)
                        _exit(2);
                if (raw_connect(h.socket_path, &sock) < 0 || raw_send(pair[1], "s", 1, &sock, 1) < 0)
                        _exit(1);
                _exit(0);
        }
        safe_close(pair[1]);
        ck_assert_int_eq(raw_recv(pair[0], buf, sizeof(buf), 5000, fds, &n_fds), 1);
        ck_assert_int_eq(n_fds, 1);
        safe_close(pair[0]);
        ck_assert_int_eq(wait_child(pid), 0);
        return fds[0];
}

/* Served (0), or the errno of the refusal that came before the close. */
static int connection_verdict(int sock) {
        ProtoReply reply;
        int r = raw_status(sock, 5000, &reply);

        if (r == 0)
                return reply.status;
        /* Refused: the request may not even have gone out, but the reply is queued. */
        ck_assert_int_eq(raw_verdict(sock, 5000, &reply), RAW_REPLIED);
        ck_assert_int_lt(reply.status, 0);
        return reply.status;
}

START_TEST(test_subordinate_uids_share) {
        const char *const args[] = { "--max-connections", "16", "--max-connections-per-uid", "2", NULL };
        int sub[8], own[3], root = -EBADF;
        int served = 0, enfile = 0;

        setup_with(args);
        /* Eight subordinate uids, one connection each: together they get a quarter of 16. */
        for (int i = 0; i < 8; i++) {
                sub[i] = connect_as(100000 + (uid_t) i);
                usleep(20 * 1000);
        }
        for (int i = 0; i < 8; i++) {
                int r = connection_verdict(sub[i]);

                if (r == 0)
                        served++;
                else {
                        ck_assert_int_eq(r, -ENFILE);
                        enfile++;
                }
        }
        fprintf(stderr, "subordinate uids: %d served, %d refused with ENFILE\n", served, enfile);
        ck_assert_int_eq(served, 4);

        /* One ordinary uid: two connections, the third is told EMFILE. */
        for (int i = 0; i < 3; i++) {
                own[i] = connect_as(1000);
                usleep(20 * 1000);
        }
        ck_assert_int_eq(connection_verdict(own[0]), 0);
        ck_assert_int_eq(connection_verdict(own[1]), 0);
        ck_assert_int_eq(connection_verdict(own[2]), -EMFILE);

        /* And everybody else is still served. */
        ck_assert_int_eq(raw_connect(h.socket_path, &root), 0);
        ck_assert_int_eq(connection_verdict(root), 0);
        for (int i = 0; i < 8; i++)
                safe_close(sub[i]);
        for (int i = 0; i < 3; i++)
                safe_close(own[i]);
        safe_close(root);
}
END_TEST

static int holder_pipe[2] = { -EBADF, -EBADF };

/* Holds a snapshot of the popular file until killed. */
static int hold_popular(void *userdata) {
        _cleanup_close_ int file = open(userdata, O_RDONLY | O_CLOEXEC), snap = -EBADF;
        ProtoReply reply;

        CHILD_CHECK_INT(file, >=, 0);
        CHILD_CHECK_INT(raw_oneshot_fd(h.socket_path, file, 0, &reply, &snap), ==, 0);
        CHILD_CHECK_INT(reply.status, ==, 0);
        CHILD_CHECK_INT(write(holder_pipe[1], "r", 1), ==, 1);
        pause(); /* until the test is done with it */
        return 0;
}

/* Takes the popular snapshot and lets go of it, then fills its whole budget with others. */
static int leave_popular(void *userdata) {
        const char *const names[] = { "popular", "x", "y" };
        int held[3] = { -EBADF, -EBADF, -EBADF };

        for (int i = 0; i < 3; i++) {
                _cleanup_free_ char *p = harness_path(&h, names[i]);
                _cleanup_close_ int file = open(p, O_RDONLY | O_CLOEXEC);
                ProtoReply reply;

                CHILD_CHECK_INT(file, >=, 0);
                CHILD_CHECK_INT(raw_oneshot_fd(h.socket_path, file, 0, &reply, &held[i]), ==, 0);
                if (reply.status != 0)
                        fprintf(stderr, "uid %u, snapshot of %s: %s\n", (unsigned) getuid(), names[i],
                                strerror(-reply.status));
                CHILD_CHECK_INT(reply.status, ==, 0);
                if (i == 0)
                        held[0] = safe_close(held[0]);
        }
        safe_close(held[1]);
        safe_close(held[2]);
        return 0;
}

/*
 * Another uid holding a popular snapshot does not keep it charged to a uid
 * that let go of it: with a 2 MiB budget, that uid can then hold two other
 * 1 MiB snapshots.
 */
START_TEST(test_shared_snapshot_not_charged_to_leaver) {
        const char *const args[] = { "--max-bytes-per-uid", "2M", NULL };
        _cleanup_free_ char *popular = NULL;
        pid_t holder;
        char c;

        setup_with(args);
        popular = harness_path(&h, "popular");
        for (int i = 0; i < 3; i++) {
                _cleanup_free_ char *p = harness_path(&h, (const char *[]) { "popular", "x", "y" }[i]);

                ck_assert_int_eq(harness_fill_file(p, 0644, 'p', 1u << 20), 0);
        }
        ck_assert_int_eq(pipe2(holder_pipe, O_CLOEXEC), 0);
        holder = spawn_as(NOBODY_UID, hold_popular, popular);
        holder_pipe[1] = safe_close(holder_pipe[1]);
        ck_assert_int_eq(read(holder_pipe[0], &c, 1), 1);
        ck_assert_int_eq(run_as(VICTIM_UID, VICTIM_UID, NULL, 0, 30, leave_popular, NULL), 0);
        ck_assert_int_eq(kill(holder, SIGTERM), 0);
        wait_child(holder);
        holder_pipe[0] = safe_close(holder_pipe[0]);
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s;

        if (harness_skip_without_fuse("runs clients as other uids") != 0)
                return 77;

        s = harness_suite("fair", 120, NULL, teardown, &tc);
        tcase_add_test(tc, test_flood_leaves_other_uids_alone);
        tcase_add_test(tc, test_threads_bounded);
        tcase_add_test(tc, test_lying_size_hits_budget);
        tcase_add_test(tc, test_hung_up_client_cancels_copy);
        tcase_add_test(tc, test_subordinate_uids_share);
        tcase_add_test(tc, test_shared_snapshot_not_charged_to_leaver);

        return harness_run_suite(s);
}
