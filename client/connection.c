/* SPDX-License-Identifier: Apache-2.0 OR MIT */

/*
 * One connection to safe-mmapd per process, kept between requests: setting
 * up and tearing down a connection for every request is a large share of a
 * small snapshot's cost. The daemon serves any number of requests, one at a
 * time, on one connection.
 *
 * What keeping it must not break:
 * - threads: one request at a time is on the kept connection; a thread
 *   that finds it busy connects for its request alone rather than wait
 *   behind another thread's copy of a large file;
 * - fork: a child must never talk on its parent's connection (the replies
 *   would go to whichever process reads first): the child forgets it, by
 *   pthread_atfork() and, for children made without fork(), by pid;
 * - programs that close descriptors they do not own: the descriptor is
 *   checked to still be the socket we connected (its inode) before each use,
 *   so a request and the caller's file never go to whatever reused the number;
 * - a daemon that closed it (idle timeout, restart, idle exit): a request on
 *   a reused connection that is hung up on before any reply is sent once
 *   more on a fresh connection (snapshot requests change nothing and may be
 *   repeated);
 * - the daemon's idle exit: the daemon drops connections idle for its
 *   --idle-timeout (30 s by default), which then no longer count; a
 *   connection idle for CONNECTION_IDLE_USEC is not reused but replaced, so
 *   that a request rarely meets a connection the daemon is closing;
 * - any failure but a well-formed reply drops the connection: a late reply
 *   must never be taken for the answer to the next request.
 */

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "macro.h"
#include "transport.h"

/* Shorter than the daemon's default --idle-timeout (30 s). */
#define CONNECTION_IDLE_USEC (10u * 1000u * 1000u)

static pthread_mutex_t connection_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t connection_once = PTHREAD_ONCE_INIT;

/* Guarded by connection_lock. */
static struct {
        int fd;                 /* -EBADF: none kept */
        pid_t pid;              /* the process that connected it */
        dev_t dev;              /* the socket's identity, to tell it from whatever reuses its number */
        ino_t ino;
        uint64_t used_usec;     /* CLOCK_MONOTONIC of the last reply */
        char path[sizeof(((struct sockaddr_un *) NULL)->sun_path)];
} kept = { .fd = -EBADF };

static uint64_t now_usec(void) {
        struct timespec ts;

        if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
                return 0;
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/*
 * Forgotten before it is closed: a fork() in between must not leave the
 * child's handler closing a number another thread may have reused already.
 */
static void connection_drop(void) {
        int fd = kept.fd;

        kept.fd = -EBADF;
        safe_close(fd);
}

/* A library that is unloaded (dlclose()) takes its connection with it. */
static void __attribute__((destructor)) connection_unload(void) {
        if (kept.fd >= 0 && kept.pid == getpid())
                connection_drop();
}

/*
 * In the child of fork(): the descriptor is the parent's connection, and
 * the lock may have been held by a thread that does not exist here. The
 * child's copy of the descriptor is closed: only the child's table holds it.
 */
static void connection_atfork_child(void) {
        connection_drop();
        (void) pthread_mutex_init(&connection_lock, NULL);
}

static void connection_register_atfork(void) {
        /* Without the handler the pid check below still keeps a child off the parent's connection. */
        (void) pthread_atfork(NULL, NULL, connection_atfork_child);
}

/* Whether the process may keep a connection: SAFE_MMAP_KEEP_CONNECTION=0 says no. */
static bool connection_keep_wanted(void) {
        const char *e = secure_getenv("SAFE_MMAP_KEEP_CONNECTION");

        return !e || strcmp(e, "0") != 0;
}

/* Whether the kept descriptor may be used for a request to @path now. */
static bool connection_usable(const char *path, uint64_t now) {
        struct stat st;

        if (kept.fd < 0)
                return false;
        if (kept.pid != getpid()) {
                /* A child made without fork()'s handlers: forget it, never close (the table may be shared). */
                kept.fd = -EBADF;
                return false;
        }
        if (fstat(kept.fd, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_dev != kept.dev || st.st_ino != kept.ino) {
                /* The program closed it, and the number may be another file now: not ours to close. */
                kept.fd = -EBADF;
                return false;
        }
        if (strcmp(kept.path, path) != 0 || now - kept.used_usec > CONNECTION_IDLE_USEC) {
                connection_drop();
                return false;
        }
        return true;
}

static int connection_open(const char *path) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        size_t len = strlen(path);
        int r;

        if (len >= sizeof(kept.path))
                return -ENAMETOOLONG;
        r = transport_connect(path, &fd);
        if (r < 0)
                return r;
        if (fstat(fd, &st) < 0)
                return -errno;
        memcpy(kept.path, path, len + 1);
        kept.dev = st.st_dev;
        kept.ino = st.st_ino;
        kept.pid = getpid();
        kept.fd = TAKE_FD(fd);
        return 0;
}

static int connection_call_kept(const char *path, const ProtoRequest *req, int send_fd, ProtoReply *ret_reply,
                                int *ret_fd) {
        uint64_t now = now_usec();
        bool reused;
        int r;

        reused = connection_usable(path, now);
        if (!reused) {
                r = connection_open(path);
                if (r < 0)
                        return r;
        }
        r = transport_call(kept.fd, req, send_fd, ret_reply, ret_fd);
        if (r == -ECONNRESET && reused) {
                /* Closed by the daemon before it answered (EPIPE, ECONNRESET or EOF): once more, anew. */
                connection_drop();
                r = connection_open(path);
                if (r < 0)
                        return r;
                r = transport_call(kept.fd, req, send_fd, ret_reply, ret_fd);
        }
        if (r < 0) {
                connection_drop();
                return r;
        }
        kept.used_usec = now_usec();
        return 0;
}

/* A connection for this request alone: as every request went before connections were kept. */
static int connection_call_once(const char *path, const ProtoRequest *req, int send_fd, ProtoReply *ret_reply,
                                int *ret_fd) {
        _cleanup_close_ int sock = -EBADF;
        int r;

        r = transport_connect(path, &sock);
        if (r < 0)
                return r;
        return transport_call(sock, req, send_fd, ret_reply, ret_fd);
}

int connection_call(const ProtoRequest *req, int send_fd, ProtoReply *ret_reply, int *ret_fd) {
        const char *path = transport_socket_path();
        int r;

        if (!connection_keep_wanted())
                return connection_call_once(path, req, send_fd, ret_reply, ret_fd);

        (void) pthread_once(&connection_once, connection_register_atfork);
        /* Busy with another thread's request: do not queue behind it. */
        if (pthread_mutex_trylock(&connection_lock) != 0)
                return connection_call_once(path, req, send_fd, ret_reply, ret_fd);
        r = connection_call_kept(path, req, send_fd, ret_reply, ret_fd);
        (void) pthread_mutex_unlock(&connection_lock);
        return r;
}
