/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connection.h"
#include "log.h"
#include "macro.h"
#include "proto.h"

/* Descriptors accepted on one packet before the control data is truncated: one is legitimate. */
#define CONNECTION_FDS_MAX 16u

static void close_all(int *fds, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                safe_close(fds[i]);
}

static int connection_timer_arm(Connection *c, uint64_t usec) {
        int r;

        if (usec == 0)
                return sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        r = sd_event_source_set_time_relative(c->timer, usec);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

static int connection_send(Connection *c, const ProtoReply *reply, int fd) {
        uint8_t buf[PROTO_REPLY_STATUS_SIZE];
        union {
                struct cmsghdr h;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov;
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        int len;

        len = proto_reply_encode(reply, buf, sizeof(buf));
        if (len < 0)
                return log_errno(LOG_ERR, len, "Cannot encode a reply: %m");
        iov = (struct iovec) { .iov_base = buf, .iov_len = (size_t) len };
        if (fd >= 0) {
                struct cmsghdr *cmsg;

                msg.msg_control = &control;
                msg.msg_controllen = sizeof(control.buf);
                cmsg = CMSG_FIRSTHDR(&msg);
                cmsg->cmsg_level = SOL_SOCKET;
                cmsg->cmsg_type = SCM_RIGHTS;
                cmsg->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
        }
        /* One reply per request in flight: a full queue means the client floods; it is dropped. */
        if (sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                return negative_errno();
        return 0;
}

static int connection_reply_status(Connection *c, enum proto_type type, int status) {
        ProtoReply reply = { .type = type, .status = status };

        return connection_send(c, &reply, -EBADF);
}

static int connection_reply_manager_status(Connection *c) {
        Manager *m = c->manager;
        ProtoReply reply = {
                .type = PROTO_REPLY_STATUS,
                .connections = m->n_connections,
                .served = m->served,
                .bytes_held = snapshot_bytes_live(),
                .cache_entries = cache_entries(m->cache),
        };
        uint64_t now;

        if (sd_event_now(m->event, CLOCK_MONOTONIC, &now) >= 0 && now > m->start_usec)
                reply.uptime_usec = now - m->start_usec;
        return connection_send(c, &reply, -EBADF);
}

void connection_job_done(Connection *c, Job *j) {
        _cleanup_close_ int fd = -EBADF;
        Manager *m = c->manager;
        ProtoReply reply = { .type = PROTO_REPLY_SNAPSHOT };
        int r;

        c->job = NULL;
        j->connection = NULL;
        r = j->result;
        /* The reservation turns into the charge (or nothing). */
        if (j->reserved) {
                account_unreserve(j->account, j->reserved);
                j->reserved = 0;
        }
        if (r >= 0)
                r = account_charge(c->account, j->snapshot, m->config.max_bytes_per_uid);
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
                log_info("uid=%u pid=%i: snapshot of %" PRIu64 " bytes (%s%s%s).", c->cred.uid, c->cred.pid,
                         reply.size, reply.kind == PROTO_KIND_FS_VERITY ? "fs-verity" : "sealed memfd",
                         j->cached ? ", cached" : "", j->snapshot->consistent ? ", consistent" : "");
        }
        job_free(j);

        r = connection_send(c, &reply, fd);
        if (r < 0) {
                log_errno(LOG_WARNING, r, "uid=%u pid=%i: cannot send reply, dropping: %m", c->cred.uid, c->cred.pid);
                connection_free(c);
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

        if (c->job) {
                log_warning("uid=%u pid=%i: request not done after %u s, giving up.", c->cred.uid, c->cred.pid,
                            MANAGER_JOB_DEADLINE_USEC / 1000000u);
                (void) connection_reply_status(c, PROTO_REPLY_SNAPSHOT, -ETIMEDOUT);
        } else
                log_debug("uid=%u pid=%i: idle, closing.", c->cred.uid, c->cred.pid);
        connection_free(c);
        return 0;
}

static void connection_start_snapshot(Connection *c, const ProtoRequest *req, int *fds, unsigned n_fds) {
        Manager *m = c->manager;
        uint64_t limit = m->config.max_size;
        Job *j = NULL;
        int r;

        if (req->max_size > 0 && req->max_size < limit)
                limit = req->max_size;

        if (req->type == PROTO_REQUEST_SNAPSHOT_FD) {
                if (n_fds != 1) {
                        close_all(fds, n_fds);
                        (void) connection_reply_status(c, PROTO_REPLY_SNAPSHOT, -EBADF);
                        if (n_fds > 1) {
                                log_warning("uid=%u pid=%i: %u descriptors on one request, dropping.",
                                            c->cred.uid, c->cred.pid, n_fds);
                                connection_free(c);
                        }
                        return;
                }
                r = job_new_fd(m->cache, fds[0], limit, &j);
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
                r = job_new_path(m->cache, g->root_fd, relative, g->resolve_flags, limit, &j);
        }
        if (r >= 0) {
                /* What the uid let go of since is not held against the copy's reservation. */
                account_release_unused(c->account);
                job_set_account(j, c->account, m->config.max_bytes_per_uid);
        }
        if (r >= 0 && m->n_jobs >= MANAGER_JOBS_MAX)
                r = -EAGAIN;
        if (r >= 0)
                r = job_start(j, m->jobs_pipe[1]);
        if (r < 0) {
                log_errno(LOG_WARNING, r, "uid=%u pid=%i: cannot start request: %m", c->cred.uid, c->cred.pid);
                job_free(j);
                (void) connection_reply_status(c, PROTO_REPLY_SNAPSHOT, r);
                return;
        }
        m->n_jobs++;
        j->connection = c;
        c->job = j;
        (void) connection_timer_arm(c, MANAGER_JOB_DEADLINE_USEC);
}

static int connection_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Connection *c = userdata;
        uint8_t buf[PROTO_MESSAGE_MAX + 1];
        union {
                struct cmsghdr h;
                uint8_t buf[CMSG_SPACE(sizeof(int) * CONNECTION_FDS_MAX)];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
        struct msghdr msg = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control.buf),
        };
        int fds[CONNECTION_FDS_MAX];
        unsigned n_fds = 0;
        bool odd_control = false;
        ProtoRequest req;
        ssize_t n;
        int r;

        /* MSG_CMSG_CLOEXEC: a descriptor a client sends must never reach a child by accident. */
        n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                log_errno(LOG_DEBUG, negative_errno(), "uid=%u pid=%i: receive failed: %m", c->cred.uid, c->cred.pid);
                connection_free(c);
                return 0;
        }

        for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
                if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
                        unsigned k = (unsigned) ((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));

                        for (unsigned i = 0; i < k && n_fds < CONNECTION_FDS_MAX; i++)
                                memcpy(&fds[n_fds++], CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
                } else
                        odd_control = true;
        }

        /*
         * Truncated control data means the kernel dropped descriptors we
         * never saw; a truncated packet is longer than any request. Neither
         * can be a well-behaved client.
         */
        if ((msg.msg_flags & MSG_CTRUNC) || odd_control) {
                log_warning("uid=%u pid=%i: unexpected control data, dropping.", c->cred.uid, c->cred.pid);
                close_all(fds, n_fds);
                connection_free(c);
                return 0;
        }
        if (n == 0 && n_fds == 0) {
                connection_free(c);
                return 0;
        }

        if (msg.msg_flags & MSG_TRUNC)
                r = -EBADMSG;
        else
                r = proto_request_decode(buf, (size_t) n, &req);
        if (r < 0) {
                if (r != -EPROTONOSUPPORT)
                        r = -EBADMSG;
                log_errno(LOG_WARNING, r, "uid=%u pid=%i: bad request, dropping: %m", c->cred.uid, c->cred.pid);
                close_all(fds, n_fds);
                (void) connection_reply_status(c, PROTO_REPLY_SNAPSHOT, r);
                connection_free(c);
                return 0;
        }

        if (req.type != PROTO_REQUEST_SNAPSHOT_FD && n_fds > 0) {
                log_warning("uid=%u pid=%i: descriptor on a %s request, dropping.", c->cred.uid, c->cred.pid,
                            proto_type_to_string(req.type));
                close_all(fds, n_fds);
                connection_free(c);
                return 0;
        }

        if (req.type == PROTO_REQUEST_STATUS)
                r = connection_reply_manager_status(c);
        else if (c->job) {
                close_all(fds, n_fds);
                r = connection_reply_status(c, PROTO_REPLY_SNAPSHOT, -EBUSY);
        } else {
                (void) sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
                connection_start_snapshot(c, &req, fds, n_fds);
                return 0;
        }
        if (r < 0) {
                connection_free(c);
                return 0;
        }
        if (!c->job)
                (void) connection_timer_arm(c, c->manager->config.idle_timeout_usec);
        return 0;
}

int connection_new(Manager *m, int fd, const struct ucred *cred, gid_t *groups, size_t n_groups,
                   Account *account, Connection **ret) {
        Connection *c;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c) {
                safe_close(fd);
                free(groups);
                return -ENOMEM;
        }
        c->manager = m;
        c->fd = fd;
        c->cred = *cred;
        c->groups = groups;
        c->n_groups = n_groups;
        c->account = account;
        account->n_connections++;
        c->next = m->connections;
        if (m->connections)
                m->connections->prev = c;
        m->connections = c;
        m->n_connections++;

        r = sd_event_add_io(m->event, &c->io, fd, EPOLLIN, connection_on_io, c);
        if (r >= 0)
                r = sd_event_add_time(m->event, &c->timer, CLOCK_MONOTONIC, UINT64_MAX, 0,
                                      connection_on_timer, c);
        if (r >= 0)
                r = connection_timer_arm(c, m->config.idle_timeout_usec);
        if (r < 0) {
                connection_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

Connection *connection_free(Connection *c) {
        Manager *m;

        if (!c)
                return NULL;
        m = c->manager;
        if (c->job)
                /* The thread cannot be stopped; it finishes on its own and its result is dropped. */
                c->job->connection = NULL;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timer);
        safe_close(c->fd);
        if (c->prev)
                c->prev->next = c->next;
        else
                m->connections = c->next;
        if (c->next)
                c->next->prev = c->prev;
        m->n_connections--;
        c->account->n_connections--;
        /* A client that goes away usually lets go of its snapshots at the same time. */
        account_release_unused(c->account);
        free(c->groups);
        free(c);
        manager_connection_gone(m);
        return NULL;
}
