/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The daemon's request handling on any packet: a real Manager (event loop,
 * workers, cache, accounts) and a real connection over a socketpair, fed one
 * packet per input with zero to two descriptors made from the input (a
 * memfd holding part of it, a pipe, /dev/null). No crash, and no descriptor
 * left behind once the client has gone and every job has come back.
 *
 * Input: byte 0 says which descriptors ride along (bits 0-1: how many, 0 to
 * 2; bits 2-3 and 4-5: the kind of each), byte 1 how many bytes of the rest
 * go into a memfd; the rest is the packet.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../proto/fuzz.h"
#include "connection.h"
#include "fastpath.h"
#include "macro.h"
#include "manager.h"

#define ROUNDS_MAX 400 /* of 5 ms: a reply comes long before */

static Manager *manager;
static int baseline = -1;
static char dir[] = "/tmp/fuzz-daemon-request.XXXXXX";

/* The manager removes its socket; the directory is ours. */
static void manager_teardown(void) {
        manager = manager_free(manager);
        (void) rmdir(dir);
}

static int fd_count(void) {
        DIR *d = opendir("/proc/self/fd");
        int n = 0;

        if (!d)
                abort();
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - 1; /* the directory's own */
}

static void manager_setup(void) {
        static char socket_path[sizeof(dir) + 16], policy_dir[sizeof(dir) + 16];
        ManagerConfig config = {
                .max_size = 1u << 20,
                .cache_size = 4u << 20,
                .max_bytes_per_uid = 8u << 20,
                .max_bytes = 16u << 20,
                .max_connections = 64,
                .max_connections_per_uid = 64,
                .max_jobs_per_uid = 4,
        };

        if (!mkdtemp(dir))
                abort();
        snprintf(socket_path, sizeof(socket_path), "%s/socket", dir);
        snprintf(policy_dir, sizeof(policy_dir), "%s/policy", dir); /* missing: no path grants */
        config.listen_path = socket_path;
        config.policy_dir = policy_dir;
        if (manager_new(&config, &manager) < 0)
                abort();
        (void) atexit(manager_teardown);
}

static int make_fd(unsigned kind, const uint8_t *data, size_t size) {
        int fd, p[2];

        switch (kind) {
        case 0:
                fd = memfd_create("fuzz", MFD_CLOEXEC);
                if (fd >= 0 && size > 0 && write(fd, data, size) != (ssize_t) size)
                        abort();
                return fd;
        case 1:
        case 2:
                if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
                        return -errno;
                /* The read end (a FIFO the daemon must refuse) or the write end. */
                safe_close(p[kind == 1 ? 1 : 0]);
                return p[kind == 1 ? 0 : 1];
        default:
                return open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
}

static int send_packet(int sock, const uint8_t *buf, size_t len, const int *fds, size_t n_fds) {
        union {
                struct cmsghdr h;
                uint8_t buf[CMSG_SPACE(2 * sizeof(int))];
        } control = {};
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (n_fds > 0) {
                struct cmsghdr *cm;

                mh.msg_control = control.buf;
                mh.msg_controllen = CMSG_SPACE(n_fds * sizeof(int));
                cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
                memcpy(CMSG_DATA(cm), fds, n_fds * sizeof(int));
        }
        return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* Reads whatever came back (closing its descriptors); 1 when a reply or EOF arrived. */
static int drain_replies(int sock) {
        uint8_t buf[PROTO_MESSAGE_MAX + 1];
        union {
                struct cmsghdr h;
                uint8_t buf[CMSG_SPACE(8 * sizeof(int))];
        } control;
        int got = 0;

        for (;;) {
                struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
                struct msghdr mh = {
                        .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = control.buf, .msg_controllen = sizeof(control.buf),
                };
                ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

                if (n < 0)
                        return errno == EAGAIN ? got : 1;
                for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
                        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                                int *fds = (int *) CMSG_DATA(cm);
                                size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                                for (size_t i = 0; i < k; i++)
                                        safe_close(fds[i]);
                        }
                if (n == 0)
                        return 1;
                got = 1;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        int pair[2], fds[2];
        size_t n_fds = 0, memfd_len;
        struct ucred cred = { .pid = getpid(), .uid = getuid(), .gid = getgid() };
        gid_t *groups;
        Connection *c;
        Account *a;
        int r;

        if (!manager) {
                manager_setup();
                baseline = fd_count();
        }
        if (size < 2)
                return 0;

        n_fds = data[0] & 3u;
        if (n_fds > 2)
                n_fds = 2;
        memfd_len = data[1];
        data += 2;
        size -= 2;
        if (memfd_len > size)
                memfd_len = size;
        for (size_t i = 0; i < n_fds; i++) {
                fds[i] = make_fd((data[-2] >> (2 + 2 * i)) & 3u, data, memfd_len);
                if (fds[i] < 0)
                        abort();
        }

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) < 0)
                abort();
        a = account_get(&manager->accounts, cred.uid);
        groups = malloc(sizeof(gid_t));
        if (!a || !groups || account_connection_admit(a) < 0)
                abort();
        groups[0] = cred.gid;
        r = connection_new(manager, pair[1], &cred, groups, 1, a, &c);
        if (r < 0)
                abort();

        (void) send_packet(pair[0], data, size, fds, n_fds);
        for (size_t i = 0; i < n_fds; i++)
                safe_close(fds[i]);

        /* Until the reply (or the daemon hangs up), then until the connection and its jobs are gone. */
        for (int i = 0; i < ROUNDS_MAX && !drain_replies(pair[0]); i++)
                (void) sd_event_run(manager->event, 5000);
        safe_close(pair[0]);
        for (int i = 0; i < ROUNDS_MAX && !list_is_empty(&manager->connections); i++)
                (void) sd_event_run(manager->event, 5000);
        if (!list_is_empty(&manager->connections))
                abort();
        /* What only the cache keeps is not a leak: dropped before counting. */
        (void) cache_trim(manager->cache, UINT64_MAX);
        /* Nor what the fast path keeps for the next request, or holds back to close in a batch. */
        fastpath_flush(manager->fastpath);
        for (int i = 0; i < ROUNDS_MAX && pool_in_flight(manager->pool) > 0; i++)
                (void) sd_event_run(manager->event, 5000);
        if (fd_count() != baseline) {
                fprintf(stderr, "descriptors: %d after the input, %d before\n", fd_count(), baseline);
                abort();
        }
        return 0;
}
