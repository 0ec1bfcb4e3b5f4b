/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * close() of a descriptor a client sent can block for as long as the client
 * likes: a TCP socket with SO_LINGER and unsent data waits for its peer (up
 * to the linger time), a file on a FUSE mount whose server never answers
 * FLUSH waits for ever (even SIGKILL waits). An unprivileged user sends both
 * kinds, as a stray descriptor on a status request and on a snapshot request
 * it then abandons; everybody else must still be served within a second,
 * throughout. Root suite: the client drops to nobody, and stallfs needs a
 * mount (in a private mount namespace).
 *
 * The daemon is stopped (SIGSTOP) while the client sends, so that the
 * client's own copy is closed before the daemon receives its one: the close
 * that lingers is then surely the daemon's.
 */

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "raw-client.h"
#include "run-as.h"
#include "stallfs.h"

#define FAST_USEC (1000u * 1000u)
#define WATCH_USEC (3u * 1000u * 1000u)

static Harness h;
static StallFs fs;
static char *mnt, *normal;
static int listener = -EBADF;
static struct sockaddr_in listener_addr;

static void setup_with(const char *const *args) {
        socklen_t len = sizeof(listener_addr);

        ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
        ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        ck_assert_int_eq(harness_setup(&h), 0);
        mnt = harness_path(&h, "mnt");
        normal = harness_path(&h, "normal");
        ck_assert_int_eq(mkdir(mnt, 0755), 0);
        ck_assert_int_eq(harness_fill_file(normal, 0644, 'n', 4096), 0);
        ck_assert_int_eq(stallfs_mount(&fs, mnt), 0);
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, args), 0);

        /* The peer of the lingering socket: it never accepts, so it never reads. */
        listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(listener, 0);
        listener_addr = (struct sockaddr_in) { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        ck_assert_int_eq(bind(listener, (struct sockaddr *) &listener_addr, sizeof(listener_addr)), 0);
        ck_assert_int_eq(getsockname(listener, (struct sockaddr *) &listener_addr, &len), 0);
        ck_assert_int_eq(listen(listener, 8), 0);
}

static void setup(void) {
        setup_with(NULL);
}

/* Two connections and one worker per uid: small shares, quickly used up. */
static void setup_small(void) {
        static const char *const args[] = { "--max-connections-per-uid", "2", "--max-jobs-per-uid", "1", NULL };

        setup_with(args);
}

static void teardown(void) {
        /* Closing the listener resets its connections, and the daemon's lingering close returns. */
        listener = safe_close(listener);
        stallfs_unmount(&fs);
        ck_assert_int_eq(harness_finish(&h), 0);
        free(mnt);
        free(normal);
}

/* A snapshot of a root-owned file over a fresh connection, answered within a second. */
static void assert_served_fast(void) {
        _cleanup_close_ int file = open(normal, O_RDONLY | O_CLOEXEC), snap = -EBADF, sock = -EBADF;
        uint64_t t0 = harness_now_usec(), dt;
        ProtoReply reply;

        ck_assert_int_ge(file, 0);
        ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
        ck_assert_int_eq(raw_snapshot_fd(sock, file, 0, 5000, &reply, &snap), 0);
        dt = harness_now_usec() - t0;
        ck_assert_msg(reply.status == 0, "%s", strerror(-reply.status));
        ck_assert_msg(dt < FAST_USEC, "served only after %llu us", (unsigned long long) dt);
        sock = safe_close(sock);
        t0 = harness_now_usec();
        ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
        ck_assert_int_eq(raw_status(sock, 5000, &reply), 0);
        ck_assert_int_eq(reply.status, 0);
        dt = harness_now_usec() - t0;
        ck_assert_msg(dt < FAST_USEC, "status only after %llu us", (unsigned long long) dt);
}

/* Everybody else is served on time, again and again for WATCH_USEC. */
static void watch_served_fast(void) {
        for (uint64_t t0 = harness_now_usec(); harness_now_usec() - t0 < WATCH_USEC;) {
                assert_served_fast();
                usleep(50 * 1000);
        }
}

typedef enum Kind {
        KIND_LINGER,
        KIND_FUSE_FLUSH,
} Kind;

typedef struct Attack {
        Kind kind;
        enum proto_type request;        /* the descriptor rides on a status (stray) or a snapshot request */
        bool may_be_refused;            /* the uid may be at its limits already */
} Attack;

/* A TCP socket with SO_LINGER and unsent data: its last close() waits for a peer that never reads. */
static int make_lingering_socket(void) {
        _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct linger lg = { .l_onoff = 1, .l_linger = 3600 };
        int small = 4096;
        static char junk[65536];

        if (fd < 0)
                return -errno;
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
        if (connect(fd, (struct sockaddr *) &listener_addr, sizeof(listener_addr)) < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
                return -errno;
        /*
         * Fill the peer's receive buffer and then our own send buffer: data
         * that can never be sent. The peer's buffer grows for a while after
         * it first looks full, so it is full only once it stays so.
         */
        for (int quiet = 0; quiet < 5;) {
                ssize_t n = send(fd, junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL);

                if (n < 0 && errno != EAGAIN)
                        return -errno;
                if (n < 0) {
                        quiet++;
                        usleep(20 * 1000);
                } else
                        quiet = 0;
        }
        return TAKE_FD(fd);
}

static int attack_as_nobody(void *userdata) {
        const Attack *a = userdata;
        _cleanup_close_ int sock = -EBADF, victim = -EBADF;
        ProtoRequest req = { .type = a->request };
        uint8_t buf[RAW_BUFFER_SIZE];
        int len, r;

        if (a->kind == KIND_LINGER)
                victim = make_lingering_socket();
        else {
                _cleanup_free_ char *p = NULL;

                CHILD_CHECK(asprintf(&p, "%s/stuck-flush", mnt) >= 0);
                victim = open(p, O_RDONLY | O_CLOEXEC);
        }
        CHILD_CHECK_INT(victim, >=, 0);
        len = proto_request_encode(&req, buf, sizeof(buf));
        CHILD_CHECK_INT(len, >, 0);
        CHILD_CHECK_INT(raw_connect(h.socket_path, &sock), ==, 0);
        r = raw_send(sock, buf, (size_t) len, &victim, 1);
        if (r == -EPIPE && a->may_be_refused) {
                ProtoReply reply;

                /* Refused for a limit: the reply says which, before the close. */
                CHILD_CHECK_INT(raw_verdict(sock, 5000, &reply), ==, RAW_REPLIED);
                CHILD_CHECK_INT(reply.status, ==, -EMFILE);
                return 0;
        }
        CHILD_CHECK_INT(r, ==, 0);
        /* Our copy goes first (the daemon is stopped): the daemon's is the last one. */
        victim = safe_close(victim);
        /* The client hangs up without waiting for any reply. */
        return 0;
}

static void run_attack(Kind kind, enum proto_type request) {
        Attack a = { .kind = kind, .request = request };
        int r;

        assert_served_fast();
        ck_assert_int_eq(kill(h.pid, SIGSTOP), 0);
        r = run_as(NOBODY_UID, NOBODY_GID, NULL, 0, 30, attack_as_nobody, &a);
        ck_assert_int_eq(kill(h.pid, SIGCONT), 0);
        ck_assert_int_eq(r, 0);

        /* While the daemon's close of that descriptor hangs, everybody else is served on time. */
        watch_served_fast();
}

START_TEST(test_lingering_socket_stray) {
        run_attack(KIND_LINGER, PROTO_REQUEST_STATUS);
}
END_TEST

START_TEST(test_lingering_socket_snapshot) {
        run_attack(KIND_LINGER, PROTO_REQUEST_SNAPSHOT_FD);
}
END_TEST

START_TEST(test_fuse_flush_stray) {
        run_attack(KIND_FUSE_FLUSH, PROTO_REQUEST_STATUS);
}
END_TEST

START_TEST(test_fuse_flush_snapshot) {
        run_attack(KIND_FUSE_FLUSH, PROTO_REQUEST_SNAPSHOT_FD);
}
END_TEST

/* Many of them from one uid: its stalls cost its own workers and slots only. */
START_TEST(test_fuse_flush_many) {
        for (int i = 0; i < 40; i++) {
                Attack a = {
                        .kind = KIND_FUSE_FLUSH,
                        .request = i % 2 ? PROTO_REQUEST_STATUS : PROTO_REQUEST_SNAPSHOT_FD,
                        .may_be_refused = true,
                };

                ck_assert_int_eq(run_as(NOBODY_UID, NOBODY_GID, NULL, 0, 30, attack_as_nobody, &a), 0);
        }
        watch_served_fast();
        /* Stuck for good, but only in the uid's own share: its requests and its closes (16 each at most). */
        {
                char path[64];
                int n = 0;
                DIR *d;

                snprintf(path, sizeof(path), "/proc/%i/task", (int) h.pid);
                d = opendir(path);
                ck_assert_ptr_nonnull(d);
                for (struct dirent *de; (de = readdir(d));)
                        n += de->d_name[0] != '.';
                closedir(d);
                fprintf(stderr, "40 closes that never return: %d threads in the daemon\n", n);
                ck_assert_int_le(n, 2 * 16 + 4);
        }
}
END_TEST

/*
 * Refused sockets pile up while the uid's closes are stuck: past what its
 * share may hold waiting, they are closed by the event loop. Each carries a
 * descriptor the client queued before being accepted (a lingering socket, a
 * file whose FLUSH never returns); neither may hold the loop.
 */
typedef struct Pileup {
        unsigned n_plain;               /* refused sockets with a harmless request queued */
        unsigned n_loaded;              /* then these, each with its own stalling descriptors */
} Pileup;

static int stall_share_as_nobody(void *userdata) {
        Attack a = { .kind = KIND_FUSE_FLUSH, .request = PROTO_REQUEST_STATUS };

        /* Its one worker stuck closing; its connection slot held by the connection being closed. */
        return attack_as_nobody(&a);
}

static int pile_up_as_nobody(void *userdata) {
        const Pileup *p = userdata;
        ProtoRequest req = { .type = PROTO_REQUEST_STATUS };
        uint8_t buf[RAW_BUFFER_SIZE];
        _cleanup_free_ char *stuck = NULL;
        int len;

        CHILD_CHECK(asprintf(&stuck, "%s/stuck-flush", mnt) >= 0);
        len = proto_request_encode(&req, buf, sizeof(buf));
        CHILD_CHECK_INT(len, >, 0);
        for (unsigned i = 0; i < p->n_plain + p->n_loaded; i++) {
                _cleanup_close_ int sock = -EBADF, lingering = -EBADF, flush = -EBADF;
                int fds[2], n = 0;

                if (i >= p->n_plain) {
                        lingering = make_lingering_socket();
                        CHILD_CHECK_INT(lingering, >=, 0);
                        flush = open(stuck, O_RDONLY | O_CLOEXEC);
                        CHILD_CHECK_INT(flush, >=, 0);
                        fds[n++] = lingering;
                        fds[n++] = flush;
                }
                /* The daemon is stopped: this is queued on a socket it has not accepted yet. */
                CHILD_CHECK_INT(raw_connect(h.socket_path, &sock), ==, 0);
                CHILD_CHECK_INT(raw_send(sock, buf, (size_t) len, fds, (size_t) n), ==, 0);
        }
        /* Every copy is closed now but the daemon's. */
        return 0;
}

START_TEST(test_refused_pileup) {
        /* 16 refused sockets wait per allowed connection (ACCOUNT_PENDING_PER_CONNECTION); then 4 more. */
        Pileup p = { .n_plain = 2 * 16, .n_loaded = 4 };
        int r;

        assert_served_fast();
        /* Closing connections count up to ACCOUNT_CLOSING_PER_CONNECTION (4) times the 2 allowed. */
        for (int i = 0; i < 2 * 4; i++)
                ck_assert_int_eq(run_as(NOBODY_UID, NOBODY_GID, NULL, 0, 30, stall_share_as_nobody, NULL), 0);
        /* Its worker is in the FUSE FLUSH now (or soon): nothing of the uid's is closed any more. */
        usleep(300 * 1000);
        ck_assert_int_eq(kill(h.pid, SIGSTOP), 0);
        r = run_as(NOBODY_UID, NOBODY_GID, NULL, 0, 60, pile_up_as_nobody, &p);
        ck_assert_int_eq(kill(h.pid, SIGCONT), 0);
        ck_assert_int_eq(r, 0);

        watch_served_fast();
}
END_TEST

int main(void) {
        TCase *tc, *small;
        Suite *s;

        if (harness_skip_without_fuse("drops to nobody") != 0)
                return 77;

        s = harness_suite("close", 120, setup, teardown, &tc);
        tcase_add_test(tc, test_lingering_socket_stray);
        tcase_add_test(tc, test_lingering_socket_snapshot);
        tcase_add_test(tc, test_fuse_flush_stray);
        tcase_add_test(tc, test_fuse_flush_snapshot);
        tcase_add_test(tc, test_fuse_flush_many);

        small = tcase_create("close-small");
        tcase_add_checked_fixture(small, setup_small, teardown);
        tcase_set_timeout(small, 120);
        tcase_add_test(small, test_refused_pileup);
        suite_add_tcase(s, small);

        return harness_run_suite(s);
}
