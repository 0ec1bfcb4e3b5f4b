/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * One client. Receives one request at a time, hands snapshot work to a job,
 * replies, and goes away on EOF, on protocol abuse or when idle.
 *
 * Descriptors the client sent are never closed here, on the event loop: a
 * TCP socket with SO_LINGER, or a file on a FUSE mount whose server never
 * answers FLUSH, blocks close() for as long as its owner likes. They are
 * parked on the connection and closed by a JOB_DISPOSE job charged to the
 * client's uid, and so is the connection's own socket (closing it drops the
 * packets still queued on it, with any descriptors they carry). While
 * descriptors wait to be closed the connection reads nothing more, and it
 * keeps counting against its uid's connections until its socket is closed.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "account.h"
#include "job.h"
#include "list.h"
#include "manager.h"

/* The kernel's SCM_MAX_FD: the most one packet can carry, so that receiving never truncates (and drops) any. */
#define CONNECTION_FDS_MAX 253u

struct Connection {
        Manager *manager;
        int fd;
        struct ucred cred;
        gid_t *groups;          /* from SO_PEERGROUPS, plus the primary gid */
        size_t n_groups;
        Account *account;
        sd_event_source *io;
        sd_event_source *timer; /* idle timeout, the deadline of the job in flight, or a retry of a disposal */
        Job *job;               /* the one request in flight (owned by the pool, or the job queue) */
        Job *disposal;          /* descriptors being closed */
        int parked[CONNECTION_FDS_MAX + 1]; /* waiting for a disposal: one packet's worth, and the socket */
        unsigned n_parked;
        bool answered;          /* has answered a request: kept by its process, may be dropped when idle */
        bool closing;           /* gone for the client; waits for its descriptors to be closed */
        List dispose_link;      /* linked while in its account's dispose_waiting, for a disposal slot of the uid */
        List link;              /* in the manager's connections, newest first */
};

/* Takes over @fd and @groups, also on failure (then @fd goes to a disposal of @account, or is closed). */
int connection_new(Manager *m, int fd, const struct ucred *cred, gid_t *groups, size_t n_groups,
                   Account *account, Connection **ret);

/*
 * A connection refused for a limit: sends a reply with @error, shuts the
 * socket down, and leaves it to a disposal of @account (connection_dispose_next()).
 */
void connection_refuse(Manager *m, int fd, const struct ucred *cred, Account *account, int error);

/* Starts the next disposal @a waits for, if its share of workers allows. */
void connection_dispose_next(Account *a);

/*
 * Closes the oldest connection of @a that is idle (no request in flight,
 * nothing being closed) and was used before: whether there was one. Its
 * process reconnects. A connection that never sent a request is left alone:
 * its first request may be on the way, and a process only retries on a
 * connection it reused.
 */
bool connection_drop_idle(Manager *m, Account *a);

/* The client is gone (or dropped): stop serving it, close its socket off the event loop. */
void connection_close(Connection *c);
/* Frees at once: at exit only (descriptors still parked are left to the process exit). */
Connection *connection_free(Connection *c);
