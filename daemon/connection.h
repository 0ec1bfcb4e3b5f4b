/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * One client. Receives one request at a time, hands snapshot work to a job,
 * replies, and goes away on EOF, on protocol abuse or when idle.
 */

#include <stddef.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "account.h"
#include "job.h"
#include "manager.h"

struct Connection {
        Manager *manager;
        int fd;
        struct ucred cred;
        gid_t *groups;          /* from SO_PEERGROUPS, plus the primary gid */
        size_t n_groups;
        Account *account;
        sd_event_source *io;
        sd_event_source *timer; /* idle timeout, or the deadline of the job in flight */
        Job *job;               /* the one request in flight */
        Connection *prev, *next;
};

/* Takes over @fd and @groups, also on failure. */
int connection_new(Manager *m, int fd, const struct ucred *cred, gid_t *groups, size_t n_groups,
                   Account *account, Connection **ret);
Connection *connection_free(Connection *c);

/* A job of this connection finished: reply, and free the job. */
void connection_job_done(Connection *c, Job *j);
