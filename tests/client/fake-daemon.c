/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client-test.h"
#include "fake-daemon.h"
#include "fd-util.h"
#include "macro.h"
#include "proto.h"

/* The child cannot use Check assertions; any surprise ends it with this status. */
#define FAKE_BROKEN 99
/* More than any client makes room for. */
#define FAKE_FDS_MAX 16
/* Connections served at once by fake_daemon_start_kept(). */
#define FAKE_CONNS_MAX 16

static void fake_die(const char *what) {
        fprintf(stderr, "fake daemon: %s: %s\n", what, strerror(errno));
        _exit(FAKE_BROKEN);
}

int fake_undocumented_errno = FAKE_UNDOCUMENTED_ERRNO;

static int fake_memfd(unsigned seals) {
        int fd = memfd_create("fake-daemon", MFD_CLOEXEC | MFD_ALLOW_SEALING), ro;

        if (fd < 0)
                fake_die("memfd_create");
        if (loop_write(fd, FAKE_CONTENT, strlen(FAKE_CONTENT)) < 0)
                fake_die("write");
        if (seals && fcntl(fd, F_ADD_SEALS, seals) < 0)
                fake_die("F_ADD_SEALS");
        /* As the real daemon does: a fresh read-only description. */
        ro = fd_reopen_rdonly(fd);
        if (ro < 0) {
                errno = -ro;
                fake_die("reopen");
        }
        close(fd);
        return ro;
}

static int fake_disk_file(void) {
        char t[] = "/var/tmp/safe-mmap-fake.XXXXXX";
        int fd = mkostemp(t, O_CLOEXEC), ro;

        if (fd < 0)
                fake_die("mkostemp");
        if (write(fd, FAKE_CONTENT, strlen(FAKE_CONTENT)) < 0)
                fake_die("write");
        ro = open(t, O_RDONLY | O_CLOEXEC);
        if (ro < 0)
                fake_die("open");
        (void) unlink(t);
        close(fd);
        return ro;
}

static void fake_send(int conn, const void *buf, size_t len, const int *fds, unsigned n_fds) {
        /* The client may have given up already (EPIPE): that is its business. */
        (void) fd_send(conn, buf, len, fds, n_fds);
}

static void fake_reply(int conn, enum fake_mode mode) {
        ProtoReply reply = { .type = PROTO_REPLY_SNAPSHOT, .kind = PROTO_KIND_SEALED_MEMFD,
                             .size = strlen(FAKE_CONTENT) };
        static uint8_t buf[2 * PROTO_MESSAGE_MAX + 64];
        int fds[FAKE_FDS_MAX], len;
        unsigned n_fds = 1;

        for (unsigned i = 0; i < FAKE_FDS_MAX; i++)
                fds[i] = -1;

        switch (mode) {
        case FAKE_GOOD:
        case FAKE_OVERSIZED:
                fds[0] = fake_memfd(SEALS_SNAPSHOT);
                break;
        case FAKE_CONSISTENT:
                fds[0] = fake_memfd(SEALS_SNAPSHOT);
                reply.flags = PROTO_REPLY_CONSISTENT;
                break;
        case FAKE_CACHED:
                fds[0] = fake_memfd(SEALS_SNAPSHOT);
                reply.flags = PROTO_REPLY_CONSISTENT | PROTO_REPLY_CACHED;
                break;
        case FAKE_UNSEALED:
                fds[0] = fake_memfd(0);
                break;
        case FAKE_DISK_FILE:
                fds[0] = fake_disk_file();
                break;
        case FAKE_WRONG_SIZE:
                fds[0] = fake_memfd(SEALS_SNAPSHOT);
                reply.size++;
                break;
        case FAKE_WRONG_KIND:
                fds[0] = fake_memfd(SEALS_SNAPSHOT);
                reply.kind = PROTO_KIND_FS_VERITY;
                break;
        case FAKE_ERROR:
                reply = (ProtoReply) { .type = PROTO_REPLY_SNAPSHOT, .status = -FAKE_ERRNO };
                n_fds = 0;
                break;
        case FAKE_EFBIG:
        case FAKE_EDQUOT:
        case FAKE_EOPNOTSUPP:
                reply = (ProtoReply) { .type = PROTO_REPLY_SNAPSHOT,
                                       .status = mode == FAKE_EFBIG ? -EFBIG :
                                                 mode == FAKE_EDQUOT ? -EDQUOT : -EOPNOTSUPP };
                n_fds = 0;
                break;
        case FAKE_ODD_ERRNO:
                reply = (ProtoReply) { .type = PROTO_REPLY_SNAPSHOT, .status = -fake_undocumented_errno };
                n_fds = 0;
                break;
        case FAKE_ERROR_WITH_FD:
                reply = (ProtoReply) { .type = PROTO_REPLY_SNAPSHOT, .status = -FAKE_ERRNO };
                fds[0] = fake_memfd(SEALS_SNAPSHOT);
                break;
        case FAKE_NO_FD:
                n_fds = 0;
                break;
        case FAKE_TWO_FDS:
                fds[0] = fake_memfd(SEALS_SNAPSHOT);
                fds[1] = fake_memfd(SEALS_SNAPSHOT);
                n_fds = 2;
                break;
        case FAKE_MANY_FDS:
                for (unsigned i = 0; i < FAKE_FDS_MAX; i++)
                        fds[i] = fake_memfd(SEALS_SNAPSHOT);
                n_fds = FAKE_FDS_MAX;
                break;
        case FAKE_HUGE:
                fds[0] = fake_memfd(SEALS_SNAPSHOT);
                break;
        case FAKE_GARBAGE:
                memset(buf, 0xa5, 40);
                fake_send(conn, buf, 40, NULL, 0);
                return;
        case FAKE_STATUS_REPLY:
                reply = (ProtoReply) { .type = PROTO_REPLY_STATUS };
                n_fds = 0;
                break;
        case FAKE_HANG_UP:
        default:
                return;
        }

        len = proto_reply_encode(&reply, buf, sizeof(buf));
        if (len < 0) {
                errno = -len;
                fake_die("proto_reply_encode");
        }
        if (mode == FAKE_OVERSIZED) {
                memset(buf + len, 0, 64);
                len += 64;
        } else if (mode == FAKE_HUGE) {
                memset(buf + len, 0, sizeof(buf) - (size_t) len);
                len = (int) sizeof(buf);
        }
        fake_send(conn, buf, (size_t) len, fds, n_fds);
        for (unsigned i = 0; i < FAKE_FDS_MAX; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
}

/* Answers one request on @conn; false when the client hung up (or was hung up on). */
static bool fake_serve_request(int conn, unsigned id, int report, enum fake_mode mode) {
        uint8_t buf[PROTO_MESSAGE_MAX + 1];
        struct fake_request info = {};
        int fds[8];
        size_t n_fds = 0;
        ProtoRequest req;
        ssize_t n;

        info.conn = id;
        n = fd_receive(conn, buf, sizeof(buf), fds, ELEMENTSOF(fds), &n_fds, NULL, NULL);
        if (n == -ECONNRESET)
                return false;
        if (n < 0) {
                errno = (int) -n;
                fake_die("recvmsg");
        }
        if (n == 0) /* the client hung up without asking: nothing to report */
                return false;

        for (size_t i = 0; i < n_fds; i++) {
                if (info.n_fds == 0) {
                        struct stat st;

                        info.fd_flags = fcntl(fds[i], F_GETFL);
                        if (fstat(fds[i], &st) == 0) {
                                info.dev = st.st_dev;
                                info.ino = st.st_ino;
                        }
                }
                info.n_fds++;
                close(fds[i]);
        }

        info.decoded = proto_request_decode(buf, (size_t) n, &req);
        if (info.decoded == 0) {
                info.type = req.type;
                if (req.type == PROTO_REQUEST_SNAPSHOT_PATH)
                        snprintf(info.path, sizeof(info.path), "%.*s", (int) req.path_length, req.path);
        }
        if (write(report, &info, sizeof(info)) != sizeof(info))
                fake_die("report");

        fake_reply(conn, mode);
        return mode != FAKE_HANG_UP;
}

/*
 * The real daemon's refusal for a limit: decided at accept, answered before
 * the request is read (the client may not have sent it yet), then the
 * socket is shut down, so that a request sent after fails with EPIPE.
 */
static void fake_refuse(int conn) {
        uint8_t buf[PROTO_REPLY_STATUS_SIZE];
        ProtoReply reply = { .type = PROTO_REPLY_SNAPSHOT, .status = -EMFILE };
        int len = proto_reply_encode(&reply, buf, sizeof(buf));

        if (len < 0 || send(conn, buf, (size_t) len, MSG_NOSIGNAL) != len)
                fake_die("refusal");
        (void) shutdown(conn, SHUT_RDWR);
        /* Closed only once the client had time to read: the reply stays queued for it either way. */
        (void) usleep(20 * 1000);
}

static void fake_serve_one(int listener, unsigned id, int report, enum fake_mode mode) {
        int conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);

        if (conn < 0)
                fake_die("accept4");
        if (mode == FAKE_REFUSE) {
                fake_refuse(conn);
                close(conn);
                return;
        }
        (void) fake_serve_request(conn, id, report, mode);
        close(conn);
}

/*
 * As the real daemon: any number of requests on each connection until the
 * client hangs up, several connections at once, @n_conns accepted in all.
 */
static void fake_serve_kept(int listener, int report, enum fake_mode mode, unsigned n_conns) {
        struct pollfd p[1 + FAKE_CONNS_MAX];
        unsigned ids[1 + FAKE_CONNS_MAX], n = 1, accepted = 0;

        p[0] = (struct pollfd) { .fd = listener, .events = POLLIN };
        for (;;) {
                if (poll(p, n, -1) < 0)
                        fake_die("poll");
                for (unsigned i = n; i-- > 1;) {
                        if (!p[i].revents)
                                continue;
                        if (fake_serve_request(p[i].fd, ids[i], report, mode))
                                continue;
                        close(p[i].fd);
                        p[i] = p[n - 1];
                        ids[i] = ids[n - 1];
                        n--;
                }
                if ((p[0].revents & POLLIN) && accepted < n_conns && n < 1 + FAKE_CONNS_MAX) {
                        int conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);

                        if (conn < 0)
                                fake_die("accept4");
                        ids[n] = accepted++;
                        p[n++] = (struct pollfd) { .fd = conn, .events = POLLIN };
                }
                /* No more connections to accept: stop polling the listener. */
                p[0].events = accepted < n_conns ? POLLIN : 0;
        }
}

static int fake_listen(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        /* Anyone may connect, as to the real socket; the client decides whom it trusts. */
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || chmod(path, 0666) < 0 || listen(fd, 16) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        return fd;
}

static void fake_daemon_start_full(struct fake_daemon *d, enum fake_mode mode, unsigned n_conns, int as_nobody,
                                   bool kept) {
        int report[2], ready[2];
        char *dir, ok;
        pid_t parent;

        /* A directory of its own that user nobody may create the socket in. */
        dir = scratch_path("daemon");
        ck_assert_int_eq(mkdir(dir, 0777), 0);
        ck_assert_int_eq(chmod(dir, 0777), 0);
        ck_assert_int_gt(asprintf(&d->socket_path, "%s/socket", dir), 0);
        free(dir);

        ck_assert_int_eq(pipe2(report, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
        parent = getpid();
        d->pid = fork();
        ck_assert_int_ge(d->pid, 0);
        if (d->pid == 0) {
                int listener;

                close(report[0]);
                close(ready[0]);
                /* SO_PEERCRED reports who called listen(): drop before that. */
                if (as_nobody && geteuid() == 0) {
                        struct passwd *pw = getpwnam("nobody");

                        if (setgroups(0, NULL) < 0 || setgid(pw ? pw->pw_gid : 65534) < 0 ||
                            setuid(pw ? pw->pw_uid : 65534) < 0)
                                fake_die("drop privileges");
                }
                /* A test that fails ends without stopping us: go with it. Set after the
                 * credentials change, which clears it. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(0);
                listener = fake_listen(d->socket_path);
                if (listener < 0) {
                        errno = -listener;
                        fake_die("listen");
                }
                if (write(ready[1], "R", 1) != 1)
                        fake_die("ready");
                close(ready[1]);
                if (kept)
                        fake_serve_kept(listener, report[1], mode, n_conns);
                for (unsigned i = 0; i < n_conns; i++)
                        fake_serve_one(listener, i, report[1], mode);
                _exit(0);
        }
        close(report[1]);
        close(ready[1]);
        ck_assert_msg(read(ready[0], &ok, 1) == 1, "the fake daemon did not start");
        close(ready[0]);
        d->report_fd = report[0];
}

void fake_daemon_start(struct fake_daemon *d, enum fake_mode mode, unsigned n_conns, int as_nobody) {
        fake_daemon_start_full(d, mode, n_conns, as_nobody, false);
}

void fake_daemon_start_kept(struct fake_daemon *d, enum fake_mode mode, unsigned n_conns) {
        fake_daemon_start_full(d, mode, n_conns, 0, true);
}

int fake_daemon_next(struct fake_daemon *d, struct fake_request *ret) {
        struct pollfd p = { .fd = d->report_fd, .events = POLLIN };

        /* The report is written before the reply, so a request the library made is there
         * by the time the library returns; the wait only bounds "no request at all". */
        if (poll(&p, 1, 300) <= 0)
                return -ENODATA;
        if (read(d->report_fd, ret, sizeof(*ret)) != sizeof(*ret))
                return -ENODATA;
        return 0;
}

void fake_daemon_stop(struct fake_daemon *d) {
        int status;

        (void) kill(d->pid, SIGKILL);
        ck_assert_int_eq(waitpid(d->pid, &status, 0), d->pid);
        ck_assert_msg(!WIFEXITED(status) || WEXITSTATUS(status) != FAKE_BROKEN, "the fake daemon broke");
        close(d->report_fd);
        (void) unlink(d->socket_path);
        free(d->socket_path);
        *d = (struct fake_daemon) { .pid = 0, .report_fd = -1 };
}
