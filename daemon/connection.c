/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connection.h"
#include "fastpath.h"
#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "proto.h"
#include "socket-close.h"

/* How soon a disposal that could not be started (out of memory) is tried again. */
#define CONNECTION_RETRY_USEC (1000u * 1000u)

/*
 * Arms the connection's one timer @usec from the loop's current time. Every
 * answered request re-arms it, sometimes twice in one loop iteration: a
 * deadline already set to the same point is left alone (the loop's time is
 * cached per iteration, so that is the common case of a cache hit).
 */
static int connection_timer_arm(Connection *c, uint64_t usec) {
        uint64_t now, deadline;
        int enabled, r;

        if (usec == 0)
                return sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        if (sd_event_source_get_enabled(c->timer, &enabled) >= 0 && enabled == SD_EVENT_ONESHOT &&
            sd_event_now(c->manager->event, CLOCK_MONOTONIC, &now) >= 0 && now <= UINT64_MAX - usec &&
            sd_event_source_get_time(c->timer, &deadline) >= 0 && deadline == now + usec)
                return 0;
        r = sd_event_source_set_time_relative(c->timer, usec);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

/* In its account's line for a disposal slot of the uid. */
static bool connection_waits_to_dispose(const Connection *c) {
        return list_is_linked(&c->dispose_link);
}

static void connection_park(Connection *c, const int *fds, unsigned n) {
        /* Room for one packet's worth and the socket: nothing is read while anything is parked. */
        assert(c->n_parked + n <= ELEMENTSOF(c->parked));
        for (unsigned i = 0; i < n; i++)
                c->parked[c->n_parked++] = fds[i];
}

static void connection_on_disposed(Job *j, void *userdata);

/* The request in flight, counted by the manager: only those keep the daemon from exiting idle. */
static void connection_set_job(Connection *c, Job *j) {
        Manager *m = c->manager;
        bool had = c->job;

        c->job = j;
        if (had == !!j)
                return;
        if (j)
                m->n_requests++;
        else
                m->n_requests--;
        manager_activity(m);
}

/*
 * Hands whatever is parked to a disposal job. While one runs or anything is
 * parked the connection reads nothing: one client never has more than one
 * packet's worth of descriptors waiting to be closed.
 */
static void connection_dispose_parked(Connection *c) {
        Account *a = c->account;
        Job *j;
        int r;

        if (c->disposal || connection_waits_to_dispose(c) || c->n_parked == 0) {
                if (!c->closing && c->io)
                        (void) sd_event_source_set_enabled(c->io, c->disposal || connection_waits_to_dispose(c)
                                                                          ? SD_EVENT_OFF
                                                                          : SD_EVENT_ON);
                return;
        }
        if (c->io)
                (void) sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
        if (!account_may_dispose(a)) {
                /* The uid's closes hold their share of workers already: wait in line, reading nothing. */
                list_append(&a->dispose_waiting, &c->dispose_link);
                return;
        }
        r = job_new_dispose(a, c->parked, c->n_parked, &j);
        if (r < 0) {
                log_errno(LOG_WARNING, r, "uid=%u pid=%i: cannot close descriptors yet, retrying: %m",
                          c->cred.uid, c->cred.pid);
                (void) connection_timer_arm(c, CONNECTION_RETRY_USEC);
                return;
        }
        c->n_parked = 0;
        c->disposal = j;
        a->n_disposing++;
        job_submit(j, c->manager->pool, connection_on_disposed, c);
}

/* Every account lives in the manager's table. */
static Manager *account_manager(Account *a) {
        return (Manager *) (void *) ((char *) a->table - offsetof(Manager, accounts));
}

static void account_on_disposed(Job *j, void *userdata) {
        Account *a = userdata;

        a->n_disposing--;
        job_free(j);
        connection_dispose_next(a);
}

/* A disposal of the uid ended (or more is to be closed): connections in line first, then refused sockets. */
void connection_dispose_next(Account *a) {
        Connection *c = LIST_FIRST(&a->dispose_waiting, Connection, dispose_link);
        size_t n;
        Job *j;

        if (!account_may_dispose(a))
                return;
        if (c) {
                list_unlink(&c->dispose_link);
                connection_dispose_parked(c);
                if (c->closing && !c->disposal && !connection_waits_to_dispose(c) && c->n_parked == 0)
                        connection_free(c);
                return;
        }
        if (a->n_pending_fds == 0)
                return;
        n = a->n_pending_fds < CONNECTION_FDS_MAX ? a->n_pending_fds : CONNECTION_FDS_MAX;
        if (job_new_dispose(a, a->pending_fds + a->n_pending_fds - n, n, &j) < 0)
                return; /* tried again when the next disposal of the uid ends, or the next refusal */
        a->n_pending_fds -= n;
        a->n_disposing++;
        job_submit(j, account_manager(a)->pool, account_on_disposed, a);
}

/* The last step of a connection: everything it received, and its socket, is closed now. */
static void connection_unlink(Connection *c) {
        list_unlink(&c->link);
        if (!c->closing)
                account_connection_closing(c->account);
        account_closing_done(c->account);
}

Connection *connection_free(Connection *c) {
        Manager *m;

        if (!c)
                return NULL;
        m = c->manager;
        if (c->job) {
                job_cancel(c->job);
                connection_set_job(c, NULL);
        }
        if (c->disposal) {
                job_cancel(c->disposal);
                c->account->n_disposing--;
        }
        list_unlink(&c->dispose_link);
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timer);
        /*
         * Anything still parked is left open: closing it here could block
         * the exit for ever, and the process exit closes it anyway.
         */
        connection_unlink(c);
        /* A client that goes away usually lets go of its snapshots at the same time (the rest: account_table_gc()). */
        account_release_some(c->account);
        free(c->groups);
        free(c);
        manager_connection_gone(m);
        return NULL;
}

static void connection_on_disposed(Job *j, void *userdata) {
        Connection *c = userdata;
        Account *a = c->account;

        c->disposal = NULL;
        a->n_disposing--;
        job_free(j);
        connection_dispose_parked(c);
        if (c->closing && !c->disposal && !connection_waits_to_dispose(c) && c->n_parked == 0)
                connection_free(c);
        connection_dispose_next(a);
}

static bool connection_is_idle(const Connection *c) {
        return c->answered && !c->closing && !c->job && !c->disposal && !connection_waits_to_dispose(c) && c->n_parked == 0;
}

bool connection_drop_idle(Manager *m, Account *a) {
        Connection *c, *oldest = NULL;

        /* New connections go first in the list: the last idle one of the uid is its oldest. */
        LIST_FOREACH(c, &m->connections, Connection, link)
                if (c->account == a && connection_is_idle(c))
                        oldest = c;
        if (!oldest)
                return false;
        log_debug("uid=%u pid=%i: dropping an idle connection to make room for a new one.", oldest->cred.uid,
                  oldest->cred.pid);
        connection_close(oldest);
        return true;
}

void connection_close(Connection *c) {
        if (c->closing)
                return;
        c->closing = true;
        account_connection_closing(c->account);
        if (c->job) {
                /* The worker stops at its next chunk; the job keeps its uid's slot and reservation until then. */
                job_cancel(c->job);
                connection_set_job(c, NULL);
        }
        c->io = sd_event_source_disable_unref(c->io);
        (void) sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        /* The client sees the end at once; shutdown() drops nothing that is queued, close() would. */
        (void) shutdown(c->fd, SHUT_RDWR);
        connection_park(c, &c->fd, 1);
        c->fd = -EBADF;
        connection_dispose_parked(c);
}

static int send_reply(int sock, const ProtoReply *reply, int fd) {
        uint8_t buf[PROTO_REPLY_STATUS_SIZE];
        int len;

        len = proto_reply_encode(reply, buf, sizeof(buf));
        if (len < 0)
                return log_errno(LOG_ERR, len, "Cannot encode a reply: %m");
        /*
         * The socket is non-blocking: one reply per request in flight, so a
         * full queue means the client floods; it is dropped.
         */
        return fd_send(sock, buf, (size_t) len, &fd, fd >= 0 ? 1 : 0);
}

static int connection_send(Connection *c, const ProtoReply *reply, int fd) {
        return send_reply(c->fd, reply, fd);
}

static int connection_reply_status(Connection *c, enum proto_type type, int status) {
        ProtoReply reply = { .type = type, .status = status };

        return connection_send(c, &reply, -EBADF);
}

static int connection_reply_manager_status(Connection *c) {
        Manager *m = c->manager;
        ProtoReply reply = {
                .type = PROTO_REPLY_STATUS,
                .connections = m->accounts.n_connections,
                .served = m->served,
                .bytes_held = snapshot_bytes_live(),
                .cache_entries = cache_entries(m->cache),
        };
        uint64_t now;

        if (sd_event_now(m->event, CLOCK_MONOTONIC, &now) >= 0 && now > m->start_usec)
                reply.uptime_usec = now - m->start_usec;
        return connection_send(c, &reply, -EBADF);
}

static void connection_on_job_done(Job *j, void *userdata) {
        _cleanup_close_ int fd = -EBADF;
        Connection *c = userdata;
        Manager *m = c->manager;
        ProtoReply reply = { .type = PROTO_REPLY_SNAPSHOT };
        int r;

        connection_set_job(c, NULL);
        /* The reservation ends here: the snapshot is charged to the uid instead, or nothing is. */
        r = job_settle(j);
        if (r >= 0)
                r = snapshot_open_for_client(j->snapshot, &fd);
        if (r < 0) {
                log_errno(LOG_INFO, r, "uid=%u pid=%i: snapshot of %s refused: %m", c->cred.uid, c->cred.pid, j->relative ? LOG_ESCAPE(j->relative) : "its descriptor");
                reply.status = r;
        } else {
                reply.kind = j->snapshot->kind;
                reply.size = j->snapshot->size;
                reply.flags = (j->cached ? PROTO_REPLY_CACHED : 0) |
                        (j->snapshot->consistent ? PROTO_REPLY_CONSISTENT : 0);
                /*
                 * A read through a grant is a privileged read: who read what
                 * stays in the log. A descriptor the client sent is a file it
                 * could read itself; a line for each would cost more than the
                 * cache hit it reports (and floods the journal of a busy host).
                 */
                log_internal(j->relative ? LOG_INFO : LOG_DEBUG, 0,
                             "uid=%u pid=%i: snapshot of %" PRIu64 " bytes%s%s (%s%s%s).", c->cred.uid, c->cred.pid,
                             reply.size, j->relative ? " of " : "", j->relative ? LOG_ESCAPE(j->relative) : "",
                             reply.kind == PROTO_KIND_FS_VERITY ? "fs-verity" : "sealed memfd",
                             j->cached ? ", cached" : "", j->snapshot->consistent ? ", consistent" : "");
        }
        job_free(j);

        r = connection_send(c, &reply, fd);
        if (r < 0) {
                log_errno(LOG_WARNING, r, "uid=%u pid=%i: cannot send reply, dropping: %m", c->cred.uid, c->cred.pid);
                connection_close(c);
                return;
        }
        if (reply.status == 0) {
                m->served++;
                manager_update_status(m);
        }
        (void) connection_timer_arm(c, m->config.idle_timeout_usec);
}

static int connection_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Connection *c = userdata;

        if (c->n_parked > 0 && !c->disposal && !connection_waits_to_dispose(c)) {
                /* A disposal that could not start before. */
                connection_dispose_parked(c);
                if (!c->closing && !c->job)
                        (void) connection_timer_arm(c, c->manager->config.idle_timeout_usec);
                return 0;
        }
        if (c->closing)
                return 0;
        if (c->job) {
                log_warning("uid=%u pid=%i: request not done after %u s, giving up.", c->cred.uid, c->cred.pid,
                            MANAGER_JOB_DEADLINE_USEC / 1000000u);
                (void) connection_reply_status(c, PROTO_REPLY_SNAPSHOT, -ETIMEDOUT);
        } else
                log_debug("uid=%u pid=%i: idle, closing.", c->cred.uid, c->cred.pid);
        connection_close(c);
        return 0;
}

/*
 * A cache hit on a file that cannot stall, answered here on the event loop
 * (fastpath.h says how that is decided): the same settle, open and reply as
 * for a job a worker finished. The client's descriptor is left to a
 * disposal of its uid after the reply. Whether @j was answered (and freed).
 */
static bool connection_answer_on_loop(Connection *c, Job *j) {
        FastPath *f = c->manager->fastpath;
        Account *a = c->account;
        int client_fd = -EBADF;

        if (!fastpath_try(f, j, &client_fd))
                return false;
        log_debug("uid=%u pid=%i: cache hit answered on the event loop.", c->cred.uid, c->cred.pid);
        connection_on_job_done(j, c);
        /* Still allocated even if the reply failed: a closing connection waits for its disposal. */
        if (client_fd >= 0 && fastpath_dispose(f, a, client_fd) < 0)
                connection_park(c, &client_fd, 1);
        return true;
}

/* Starts the snapshot request @req; the descriptors are the job's now, or parked. */
static void connection_start_snapshot(Connection *c, const ProtoRequest *req, int *fds, unsigned n_fds) {
        Manager *m = c->manager;
        uint64_t limit = m->config.max_size;
        Job *j = NULL;
        int r;

        if (req->max_size > 0 && req->max_size < limit)
                limit = req->max_size;

        if (req->type == PROTO_REQUEST_SNAPSHOT_FD) {
                if (n_fds != 1) {
                        connection_park(c, fds, n_fds);
                        (void) connection_reply_status(c, PROTO_REPLY_SNAPSHOT, -EBADF);
                        if (n_fds > 1) {
                                log_warning("uid=%u pid=%i: %u descriptors on one request, dropping.",
                                            c->cred.uid, c->cred.pid, n_fds);
                                connection_close(c);
                        }
                        return;
                }
                r = account_job_admit(c->account);
                if (r >= 0)
                        r = job_new_snapshot_fd(c->account, m->cache, fds[0], limit, &j);
                if (r < 0)
                        connection_park(c, fds, n_fds);
        } else {
                char path[PROTO_PATH_MAX + 1];
                const char *relative;
                const Grant *g;

                memcpy(path, req->path, req->path_length);
                path[req->path_length] = '\0';
                g = policy_lookup(m->policy, c->cred.uid, c->groups, c->n_groups, path, &relative);
                if (!g) {
                        log_info("uid=%u pid=%i: no grant covers %s.", c->cred.uid, c->cred.pid, LOG_ESCAPE(path));
                        (void) connection_reply_status(c, PROTO_REPLY_SNAPSHOT, -EACCES);
                        return;
                }
                if (g->max_size > 0 && g->max_size < limit)
                        limit = g->max_size;
                r = account_job_admit(c->account);
                if (r >= 0)
                        r = job_new_snapshot_path(c->account, m->cache, g->root_fd, relative, g->resolve_flags,
                                                  g->uids, g->n_uids, limit, &j);
        }
        if (r < 0) {
                log_errno(LOG_WARNING, r, "uid=%u pid=%i: cannot start request: %m", c->cred.uid, c->cred.pid);
                (void) connection_reply_status(c, PROTO_REPLY_SNAPSHOT, r);
                return;
        }
        /* What the uid let go of since is not held against the copy's reservation, a few at a time. */
        account_release_some(c->account);
        if (connection_answer_on_loop(c, j))
                return;
        connection_set_job(c, j);
        job_submit(j, m->pool, connection_on_job_done, c);
        (void) connection_timer_arm(c, MANAGER_JOB_DEADLINE_USEC);
}

/* Room for every descriptor one packet can carry: a truncated list would be closed by recvmsg(), here. */
static_assert(CONNECTION_FDS_MAX == FD_RECEIVE_MAX, "a connection receives what fd_receive_request() can");

/* fd_receive_request()'s disposal: descriptors a client sent are parked, never closed on the event loop. */
static void connection_park_one(int fd, void *userdata) {
        connection_park(userdata, &fd, 1);
}

static void connection_handle(Connection *c) {
        uint8_t buf[PROTO_MESSAGE_MAX + 1];
        int fds[CONNECTION_FDS_MAX];
        size_t n_fds = 0;
        ProtoRequest req;
        ssize_t n;
        int r;

        /*
         * Every descriptor arrives close-on-exec (MSG_CMSG_CLOEXEC): one a
         * client sends must never reach a child by accident. On any failure
         * they are parked, not closed here.
         */
        n = fd_receive_request(c->fd, buf, sizeof(buf), fds, CONNECTION_FDS_MAX, &n_fds, connection_park_one, c);
        if (n == -EAGAIN)
                return;
        /*
         * Truncated control data means the kernel dropped descriptors we
         * never saw, and the daemon asks for nothing but descriptors: no
         * well-behaved client sends either.
         */
        if (n == -EPROTO) {
                log_warning("uid=%u pid=%i: unexpected control data, dropping.", c->cred.uid, c->cred.pid);
                connection_close(c);
                return;
        }
        if (n < 0 && n != -EBADMSG) {
                log_errno(LOG_DEBUG, (int) n, "uid=%u pid=%i: receive failed: %m", c->cred.uid, c->cred.pid);
                connection_close(c);
                return;
        }
        if (n == 0) {
                connection_close(c);
                return;
        }

        /*
         * -EBADMSG: a truncated packet is longer than any request, and
         * descriptors without one are no request either (they are parked).
         */
        r = n < 0 ? (int) n : proto_request_decode(buf, (size_t) n, &req);
        if (r < 0) {
                if (r != -EPROTONOSUPPORT)
                        r = -EBADMSG;
                log_errno(LOG_WARNING, r, "uid=%u pid=%i: bad request, dropping: %m", c->cred.uid, c->cred.pid);
                connection_park(c, fds, n_fds);
                (void) connection_reply_status(c, PROTO_REPLY_SNAPSHOT, r);
                connection_close(c);
                return;
        }

        if (req.type != PROTO_REQUEST_SNAPSHOT_FD && n_fds > 0) {
                log_warning("uid=%u pid=%i: descriptor on a %s request, dropping.", c->cred.uid, c->cred.pid,
                            proto_type_to_string(req.type));
                connection_park(c, fds, n_fds);
                connection_close(c);
                return;
        }

        manager_activity(c->manager);
        c->answered = true;
        if (req.type == PROTO_REQUEST_STATUS)
                r = connection_reply_manager_status(c);
        else if (c->job) {
                connection_park(c, fds, n_fds);
                r = connection_reply_status(c, PROTO_REPLY_SNAPSHOT, -EBUSY);
        } else {
                /* No need to stop the idle timer: every way out of here re-arms or stops it. */
                connection_start_snapshot(c, &req, fds, n_fds);
                r = 0;
        }
        if (r < 0) {
                connection_close(c);
                return;
        }
        if (!c->job && !c->closing)
                (void) connection_timer_arm(c, c->manager->config.idle_timeout_usec);
}

static int connection_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Connection *c = userdata;

        connection_handle(c);
        if (!c->closing)
                connection_dispose_parked(c);
        return 0;
}

static Connection *connection_alloc(Manager *m, int fd, const struct ucred *cred, gid_t *groups, size_t n_groups,
                                    Account *account) {
        Connection *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        c->manager = m;
        c->fd = fd;
        c->cred = *cred;
        c->groups = groups;
        c->n_groups = n_groups;
        c->account = account;
        list_init(&c->dispose_link);
        list_prepend(&m->connections, &c->link);
        return c;
}

/*
 * Without memory for a connection there is nowhere to park its socket: it is
 * closed here, within a bounded time (socket-close.h).
 */
static void connection_close_now(int fd) {
        socket_close_bounded(fd);
}

int connection_new(Manager *m, int fd, const struct ucred *cred, gid_t *groups, size_t n_groups,
                   Account *account, Connection **ret) {
        Connection *c;
        int r;

        c = connection_alloc(m, fd, cred, groups, n_groups, account);
        if (!c) {
                connection_close_now(fd);
                free(groups);
                return -ENOMEM;
        }
        account_connection_add(account);

        r = sd_event_add_time(m->event, &c->timer, CLOCK_MONOTONIC, UINT64_MAX, 0, connection_on_timer, c);
        if (r < 0) {
                c->fd = -EBADF;
                connection_free(c);
                connection_close_now(fd);
                return r;
        }
        r = sd_event_add_io(m->event, &c->io, fd, EPOLLIN, connection_on_io, c);
        if (r >= 0)
                r = connection_timer_arm(c, m->config.idle_timeout_usec);
        if (r < 0) {
                connection_close(c);
                return r;
        }
        *ret = c;
        return 0;
}

void connection_refuse(Manager *m, int fd, const struct ucred *cred, Account *account, int error) {
        ProtoReply reply = { .type = PROTO_REPLY_SNAPSHOT, .status = error };
        int r;

        /* The reply comes first: a client that sends its request before reading it still finds it queued. */
        (void) send_reply(fd, &reply, -EBADF);
        /*
         * Refused sockets are not connections (that is what was refused),
         * but they may hold descriptors the client queued before being
         * accepted: they wait in line for a worker of their uid like any
         * other close. shutdown() lets nothing more be queued meanwhile.
         */
        (void) shutdown(fd, SHUT_RDWR);
        r = account_pend_fd(account, fd);
        if (r < 0) {
                /*
                 * The uid's closes are stuck and it keeps connecting: the
                 * socket is closed on the event loop, where what it queued
                 * can hold the loop for SOCKET_CLOSE_INTERRUPT_USEC at most.
                 */
                log_errno(LOG_WARNING, r, "uid=%u pid=%i: refused sockets pile up, closing one at once: %m",
                          cred->uid, cred->pid);
                connection_close_now(fd);
                return;
        }
        connection_dispose_next(account);
}
