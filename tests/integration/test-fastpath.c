/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Cache hits on a file system that cannot stall are answered on the event
 * loop, by descriptor and by path beneath a grant; files on a file system
 * that may stall (an overlay over FUSE) always go to a worker, even when
 * cached. The daemon's debug log says "answered on the event loop" for each
 * hit it answers there (and only there): the tests count those lines.
 *
 * The proof that the loop never touches a stalling file: the FUSE server of
 * a cached file is stopped (SIGSTOP), so that anything reaching it (the
 * fstatfs() of the checks, the open of a worker) waits until it goes on.
 * Requests for that file hang in workers, and meanwhile cache hits on tmpfs
 * and status requests are answered within a second each. Root suite:
 * mounting needs root; all of it happens in a private mount namespace.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "raw-client.h"
#include "stallfs.h"

#define FAST_USEC (1000u * 1000u)
#define HUNG_CLIENTS 4
#define LOOP_LINE "cache hit answered on the event loop"

static Harness h;
static StallFs fs;
static bool have_fuse;
static char *mnt, *tmp, *tmp_file;

static void setup(void) {
        _cleanup_free_ char *grants = NULL;

        ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
        ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        ck_assert_int_eq(harness_setup(&h), 0);
        mnt = harness_path(&h, "mnt");
        tmp = harness_path(&h, "tmp");
        ck_assert_int_ge(asprintf(&tmp_file, "%s/file", tmp), 0);
        ck_assert_int_eq(mkdir(mnt, 0755), 0);
        ck_assert_int_eq(mkdir(tmp, 0755), 0);
        ck_assert_int_eq(mount("none", tmp, "tmpfs", 0, "size=1m,mode=0755"), 0);
        ck_assert_int_eq(harness_fill_file(tmp_file, 0644, 't', 4096), 0);
        if (have_fuse)
                ck_assert_int_eq(stallfs_mount(&fs, mnt), 0);
        ck_assert_int_ge(asprintf(&grants, "[Grant]\nPath=%s\nUsers=0\n\n[Grant]\nPath=%s\nUsers=0\n", mnt, tmp), 0);
        ck_assert_int_eq(harness_write_policy(&h, "grants.conf", grants), 0);
        ck_assert_int_eq(setenv("SAFE_MMAPD_DEBUG", "1", 1), 0);
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
}

static void teardown(void) {
        if (fs.pid > 0)
                (void) kill(fs.pid, SIGCONT);
        if (have_fuse)
                stallfs_unmount(&fs);
        ck_assert_int_eq(harness_finish(&h), 0);
        (void) umount2(tmp, MNT_DETACH);
        free(mnt);
        free(tmp);
        free(tmp_file);
}

/* Lines of the daemon's log that say a hit was answered on the event loop. */
static unsigned loop_answers(void) {
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        unsigned n = 0;
        FILE *f = fopen(h.log_path, "re");

        ck_assert_ptr_nonnull(f);
        while (getline(&line, &size, f) >= 0)
                if (strstr(line, LOOP_LINE))
                        n++;
        fclose(f);
        return n;
}

/* Waits (up to 2 s) for the log to show @want such lines: it is written before the reply, but by another process. */
static unsigned loop_answers_settled(unsigned want) {
        uint64_t end = harness_now_usec() + 2u * 1000u * 1000u;
        unsigned n;

        while ((n = loop_answers()) != want && harness_now_usec() < end)
                usleep(10 * 1000);
        return n;
}

static void check_reply(const ProtoReply *reply, int snap, uint8_t byte, bool cached) {
        uint8_t c;

        ck_assert_msg(reply->status == 0, "%s", strerror(-reply->status));
        ck_assert_int_eq(!!(reply->flags & PROTO_REPLY_CACHED), cached);
        ck_assert_int_eq(pread(snap, &c, 1, 0), 1);
        ck_assert_int_eq(c, byte);
}

/* A snapshot of @fd over a fresh connection, answered within a second. */
static void served_fd(int fd, uint8_t byte, bool cached) {
        _cleanup_close_ int snap = -EBADF;
        uint64_t t0 = harness_now_usec(), dt;
        ProtoReply reply;

        ck_assert_int_eq(raw_oneshot_fd(h.socket_path, fd, 0, &reply, &snap), 0);
        dt = harness_now_usec() - t0;
        ck_assert_msg(dt < FAST_USEC, "served only after %llu us", (unsigned long long) dt);
        check_reply(&reply, snap, byte, cached);
}

static void served_path(const char *path, uint8_t byte, bool cached) {
        _cleanup_close_ int snap = -EBADF;
        uint64_t t0 = harness_now_usec(), dt;
        ProtoReply reply;

        ck_assert_int_eq(raw_oneshot_path(h.socket_path, path, 0, &reply, &snap), 0);
        dt = harness_now_usec() - t0;
        ck_assert_msg(dt < FAST_USEC, "served only after %llu us", (unsigned long long) dt);
        check_reply(&reply, snap, byte, cached);
}

static char *in_mount(const char *name) {
        char *p;

        ck_assert_int_ge(asprintf(&p, "%s/%s", mnt, name), 0);
        return p;
}

/* Hits on tmpfs are answered on the loop, by descriptor and by path; hits on the overlay are not. */
START_TEST(test_hits_on_the_loop) {
        _cleanup_free_ char *data_path = in_mount("data");
        _cleanup_close_ int file = open(tmp_file, O_RDONLY | O_CLOEXEC), data = open(data_path, O_RDONLY | O_CLOEXEC);
        unsigned before;

        ck_assert_int_ge(file, 0);
        ck_assert_int_ge(data, 0);
        /* First requests copy (a worker); the grant's path look-up fills the dentry cache. */
        served_fd(file, 't', false);
        served_fd(data, 'f', false);
        served_path(tmp_file, 't', true);
        served_path(data_path, 'f', true);
        /* The tmpfs path request was a hit already (on the loop, unless its names had left the dentry cache). */
        before = loop_answers_settled(1);

        for (int i = 0; i < 10; i++) {
                served_fd(file, 't', true);
                served_path(tmp_file, 't', true);
                /* Cached too, but on an overlay over FUSE: a worker's. */
                served_fd(data, 'f', true);
                served_path(data_path, 'f', true);
        }
        ck_assert_uint_eq(loop_answers_settled(before + 20), before + 20);

        /* A mount made after the start (and the sandbox) is known once the daemon read the table again. */
        {
                _cleanup_free_ char *later = harness_path(&h, "later"), *later_file = NULL;
                _cleanup_close_ int fd = -EBADF;

                ck_assert_int_eq(mkdir(later, 0755), 0);
                ck_assert_int_eq(mount("none", later, "tmpfs", 0, "size=1m,mode=0755"), 0);
                ck_assert_int_ge(asprintf(&later_file, "%s/file", later), 0);
                ck_assert_int_eq(harness_fill_file(later_file, 0644, 'l', 4096), 0);
                fd = open(later_file, O_RDONLY | O_CLOEXEC);
                ck_assert_int_ge(fd, 0);
                served_fd(fd, 'l', false);
                served_fd(fd, 'l', true);
                ck_assert_uint_eq(loop_answers_settled(before + 21), before + 21);
                fd = safe_close(fd);
                (void) umount2(later, MNT_DETACH);
        }
}
END_TEST

/*
 * While the FUSE server of a cached file is stopped, its requests hang in
 * workers; every other client is served within a second, cache hits on
 * tmpfs on the event loop. Then the server goes on and they are answered.
 */
START_TEST(test_stalled_file_never_on_the_loop) {
        _cleanup_free_ char *data_path = in_mount("data");
        _cleanup_close_ int file = open(tmp_file, O_RDONLY | O_CLOEXEC), data = open(data_path, O_RDONLY | O_CLOEXEC);
        int socks[HUNG_CLIENTS + 1];
        unsigned before, hits = 0;
        uint64_t t0;

        ck_assert_int_ge(file, 0);
        ck_assert_int_ge(data, 0);
        served_fd(file, 't', false);
        served_fd(data, 'f', false);
        served_fd(data, 'f', true);
        served_path(tmp_file, 't', true);
        before = loop_answers_settled(1);

        ck_assert_int_eq(kill(fs.pid, SIGSTOP), 0);
        for (int i = 0; i < HUNG_CLIENTS; i++) {
                ProtoRequest req = { .type = PROTO_REQUEST_SNAPSHOT_FD };
                uint8_t buf[RAW_BUFFER_SIZE];
                int len = proto_request_encode(&req, buf, sizeof(buf));

                ck_assert_int_gt(len, 0);
                ck_assert_int_eq(raw_connect(h.socket_path, &socks[i]), 0);
                ck_assert_int_eq(raw_send(socks[i], buf, (size_t) len, &data, 1), 0);
        }
        {
                ProtoRequest req = { .type = PROTO_REQUEST_SNAPSHOT_PATH, .path = data_path,
                                     .path_length = (uint32_t) strlen(data_path) };
                uint8_t buf[RAW_BUFFER_SIZE];
                int len = proto_request_encode(&req, buf, sizeof(buf));

                ck_assert_int_gt(len, 0);
                ck_assert_int_eq(raw_connect(h.socket_path, &socks[HUNG_CLIENTS]), 0);
                ck_assert_int_eq(raw_send(socks[HUNG_CLIENTS], buf, (size_t) len, NULL, 0), 0);
        }

        /* They hang (a worker waits for the server); nobody else does. */
        t0 = harness_now_usec();
        while (harness_now_usec() - t0 < 3u * 1000u * 1000u) {
                _cleanup_close_ int sock = -EBADF;
                ProtoReply reply;

                served_fd(file, 't', true);
                served_path(tmp_file, 't', true);
                hits += 2;
                ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
                ck_assert_int_eq(raw_status(sock, 1000, &reply), 0);
                ck_assert_int_eq(reply.status, 0);
                usleep(50 * 1000);
        }
        for (int i = 0; i <= HUNG_CLIENTS; i++) {
                ProtoReply reply;

                ck_assert_int_eq(raw_verdict(socks[i], 0, &reply), -ETIMEDOUT);
        }
        ck_assert_uint_eq(loop_answers_settled(before + hits), before + hits);

        /* The server goes on: the hung requests are served (from the cache), by workers. */
        ck_assert_int_eq(kill(fs.pid, SIGCONT), 0);
        for (int i = 0; i <= HUNG_CLIENTS; i++) {
                uint8_t buf[RAW_BUFFER_SIZE];
                int fds[RAW_MAX_FDS];
                size_t n_fds = 0;
                ProtoReply reply;
                ssize_t n;

                n = raw_recv(socks[i], buf, sizeof(buf), 20000, fds, &n_fds);
                ck_assert_int_gt(n, 0);
                ck_assert_int_eq(proto_reply_decode(buf, (size_t) n, &reply), 0);
                ck_assert_uint_eq(n_fds, 1);
                check_reply(&reply, fds[0], 'f', true);
                safe_close(fds[0]);
                safe_close(socks[i]);
        }
        ck_assert_uint_eq(loop_answers_settled(before + hits), before + hits);
}
END_TEST

/*
 * What the loop asks about a client's descriptor costs the same whatever
 * the client did to it. /proc/self/fdinfo, for one, lists every lock held
 * through the description, and its kernel side starts over with a buffer
 * twice as large whenever the list does not fit: with 20,000 OFD locks each
 * read took 60 ms, on the event loop. Here 14 connections queue 8 requests
 * each for such a descriptor (a cache hit after the first), and a status
 * request on a fresh connection made meanwhile must be answered within
 * half a second (the loop would take a round over all of them first).
 */
#define LOCKS 25000
#define FLOOD_CONNECTIONS 14
#define FLOOD_REQUESTS 8
#define FLOOD_FAST_USEC (500u * 1000u)

START_TEST(test_locks_cost_the_loop_nothing) {
        _cleanup_close_ int fd = open(tmp_file, O_RDONLY | O_CLOEXEC), status = -EBADF;
        int socks[FLOOD_CONNECTIONS];
        ProtoRequest req = { .type = PROTO_REQUEST_SNAPSHOT_FD };
        uint8_t buf[RAW_BUFFER_SIZE];
        ProtoReply reply;
        uint64_t t0, dt;
        int len;

        ck_assert_int_ge(fd, 0);
        for (off_t i = 0; i < LOCKS; i++) {
                struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 2 * i, .l_len = 1 };

                ck_assert_int_eq(fcntl(fd, F_OFD_SETLK, &fl), 0);
        }
        served_fd(fd, 't', false);
        len = proto_request_encode(&req, buf, sizeof(buf));
        ck_assert_int_gt(len, 0);
        for (int i = 0; i < FLOOD_CONNECTIONS; i++) {
                ck_assert_int_eq(raw_connect(h.socket_path, &socks[i]), 0);
                for (int k = 0; k < FLOOD_REQUESTS; k++)
                        ck_assert_int_eq(raw_send(socks[i], buf, (size_t) len, &fd, 1), 0);
        }
        /* The loop is busy with the flood by now. */
        usleep(100 * 1000);
        t0 = harness_now_usec();
        ck_assert_int_eq(raw_connect(h.socket_path, &status), 0);
        ck_assert_int_eq(raw_status(status, 30000, &reply), 0);
        dt = harness_now_usec() - t0;
        ck_assert_int_eq(reply.status, 0);
        fprintf(stderr, "status answered after %llu us during the flood\n", (unsigned long long) dt);
        ck_assert_msg(dt < FLOOD_FAST_USEC, "status answered only after %llu us", (unsigned long long) dt);
        for (int i = 0; i < FLOOD_CONNECTIONS; i++)
                safe_close(socks[i]);
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s;

        if (geteuid() != 0) {
                fprintf(stderr, "SKIP: needs root (mounts tmpfs and a FUSE file system)\n");
                return 77;
        }
        /* Without /dev/fuse (a container), what needs no stalling file system still runs. */
        have_fuse = access("/dev/fuse", R_OK | W_OK) == 0;
        if (!have_fuse)
                fprintf(stderr, "SKIP part: no /dev/fuse for the cases with a file system that stalls\n");

        s = harness_suite("fastpath", 240, setup, teardown, &tc);
        if (have_fuse) {
                tcase_add_test(tc, test_hits_on_the_loop);
                tcase_add_test(tc, test_stalled_file_never_on_the_loop);
        }
        tcase_add_test(tc, test_locks_cost_the_loop_nothing);
        return harness_run_suite(s);
}
