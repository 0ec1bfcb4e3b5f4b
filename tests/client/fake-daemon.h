/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * A stand-in for safe-mmapd that answers each request the way a test asks:
 * correctly, or with exactly the kind of wrong answer the library must
 * refuse (an unsealed memfd, a size that does not match, extra descriptors,
 * garbage). It runs in a child process, serves a fixed number of
 * connections, and reports what each request looked like.
 */

#include <stdint.h>
#include <sys/types.h>

enum fake_mode {
        FAKE_GOOD,              /* a sealed memfd holding FAKE_CONTENT */
        FAKE_UNSEALED,          /* a memfd without seals */
        FAKE_DISK_FILE,         /* an ordinary file */
        FAKE_WRONG_SIZE,        /* a sealed memfd, the size in the reply one more */
        FAKE_WRONG_KIND,        /* a sealed memfd announced as fs-verity */
        FAKE_ERROR,             /* status FAKE_ERRNO, no descriptor */
        FAKE_ERROR_WITH_FD,     /* status FAKE_ERRNO, with a descriptor anyway */
        FAKE_NO_FD,             /* status 0, no descriptor */
        FAKE_TWO_FDS,           /* status 0, two good descriptors */
        FAKE_MANY_FDS,          /* status 0, more descriptors than the client makes room for */
        FAKE_GARBAGE,           /* bytes that are no message */
        FAKE_STATUS_REPLY,      /* a status reply to a snapshot request */
        FAKE_OVERSIZED,         /* a valid reply followed by more bytes in the same packet */
        FAKE_HUGE,              /* a packet larger than any message, with a descriptor */
        FAKE_HANG_UP,           /* closes the connection without a word */
        FAKE_CONSISTENT,        /* as FAKE_GOOD, said to be consistent */
        FAKE_CACHED,            /* as FAKE_GOOD, said to be consistent and from the cache */
        FAKE_EFBIG,             /* status -EFBIG: over the daemon's size limit */
        FAKE_EDQUOT,            /* status -EDQUOT: over the uid's budget */
        FAKE_EOPNOTSUPP,        /* status -EOPNOTSUPP: a file on a synthetic file system */
        FAKE_ODD_ERRNO,         /* status FAKE_UNDOCUMENTED_ERRNO, which no library function documents */
        FAKE_REFUSE,            /* as the daemon at a connection limit: -EMFILE at once, shut down, nothing read */
        _FAKE_MODE_MAX,
};

#define FAKE_CONTENT "served by the fake daemon"
/* An errno safe_mmap_snapshot_fd() documents for a daemon's refusal. */
#define FAKE_ERRNO EACCES
/* One it does not (the default of fake_undocumented_errno): the library must report it as -EIO. */
#define FAKE_UNDOCUMENTED_ERRNO EHWPOISON
/* The errno FAKE_ODD_ERRNO answers with; set before fake_daemon_start(). */
extern int fake_undocumented_errno;

/* What one request looked like. */
struct fake_request {
        unsigned conn;          /* which connection it came on, 0 for the first accepted */
        int decoded;            /* 0, or the decoder's negative errno */
        uint32_t type;
        uint32_t n_fds;         /* descriptors that came with it */
        int fd_flags;           /* F_GETFL of the first one */
        dev_t dev;              /* its file */
        ino_t ino;
        char path[256];         /* for path requests */
};

struct fake_daemon {
        pid_t pid;
        char *socket_path;
        int report_fd;
};

/*
 * Starts serving @n_conns connections in @mode at a new socket path. With
 * @as_nobody, the listening socket belongs to user nobody (root only).
 */
void fake_daemon_start(struct fake_daemon *d, enum fake_mode mode, unsigned n_conns, int as_nobody);
/*
 * As the real daemon: serves any number of requests on each connection, until
 * the client hangs up, several connections at once; accepts @n_conns in all.
 */
void fake_daemon_start_kept(struct fake_daemon *d, enum fake_mode mode, unsigned n_conns);
/* Reads the report of the next request; 0, or -ENODATA if there was none. */
int fake_daemon_next(struct fake_daemon *d, struct fake_request *ret);
/* Stops the daemon (whether or not it served everything) and frees @d. */
void fake_daemon_stop(struct fake_daemon *d);
