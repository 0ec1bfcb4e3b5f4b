/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "connection.h"
#include "fastpath.h"
#include "listen.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "notify.h"
#include "reap.h"
#include "resolve.h"
#include "socket-close.h"

/* How long accepting pauses when the daemon is out of descriptors, instead of spinning on EMFILE. */
#define ACCEPT_PAUSE_USEC (250u * 1000u)
/* How often snapshots that no client holds any more are released. */
#define GC_INTERVAL_USEC (10u * 1000u * 1000u)

static int manager_add_listener(Manager *m, int fd);

/* A manager whose jobs still run at exit stays reachable: leak checkers then know it was left on purpose. */
static Manager *volatile manager_left_behind;

static int manager_listen(Manager *m) {
        int *fds = NULL;
        unsigned n = 0;
        int r;

        if (m->config.listen_path) {
                int fd;

                r = listen_unix_path(m->config.listen_path, &fd);
                if (r < 0)
                        return log_errno(LOG_ERR, r, "Cannot listen on %s: %m", m->config.listen_path);
                m->own_socket = true;
                r = manager_add_listener(m, fd);
                if (r < 0) {
                        safe_close(fd);
                        (void) unlink(m->config.listen_path);
                        return log_errno(LOG_ERR, r, "Cannot watch %s: %m", m->config.listen_path);
                }
                log_info("Listening on %s.", m->config.listen_path);
                return 0;
        }

        r = listen_systemd(&fds, &n);
        if (r < 0)
                return log_errno(LOG_ERR, r, "Cannot get sockets from systemd: %m");
        for (unsigned i = 0; i < n; i++) {
                r = manager_add_listener(m, fds[i]);
                if (r < 0) {
                        log_errno(LOG_ERR, r, "Cannot watch passed socket %i: %m", fds[i]);
                        safe_close(fds[i]);
                }
        }
        free(fds);
        if (m->n_listen == 0) {
                log_error("No listening socket: start through safe-mmapd.socket or with --listen PATH.");
                return -EBADF;
        }
        log_info("Listening on %u socket(s) from systemd.", m->n_listen);
        return 0;
}

static void manager_accept_pause(Manager *m, bool pause) {
        for (unsigned i = 0; i < m->n_listen; i++)
                (void) sd_event_source_set_enabled(m->listen_sources[i], pause ? SD_EVENT_OFF : SD_EVENT_ON);
        if (pause) {
                (void) sd_event_source_set_time_relative(m->resume_accept, ACCEPT_PAUSE_USEC);
                (void) sd_event_source_set_enabled(m->resume_accept, SD_EVENT_ONESHOT);
        }
}

static int on_resume_accept(sd_event_source *s, uint64_t usec, void *userdata) {
        manager_accept_pause(userdata, false);
        return 0;
}

/* Out of memory with a socket nobody owns yet: closed here, within a bounded time (socket-close.h). */
static void log_oom_and_close(int fd) {
        log_error("Out of memory, dropping a connection.");
        socket_close_bounded(fd);
}

static int on_accept(sd_event_source *s, int lfd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        int fd = -EBADF;
        gid_t *groups = NULL;
        size_t n_groups = 0;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        Connection *c;
        Account *a;
        int r;

        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                        /* One line per episode, not one per pause. */
                        if (!m->accept_starved)
                                log_errno(LOG_WARNING, negative_errno(), "Cannot accept, pausing: %m");
                        m->accept_starved = true;
                        manager_accept_pause(m, true);
                }
                return 0;
        }
        m->accept_starved = false;
        /* Identity comes from the kernel only, as of connect(); never from NSS or the client. */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                log_errno(LOG_WARNING, negative_errno(), "Cannot get peer credentials: %m");
                log_oom_and_close(fd);
                return 0;
        }
        a = account_get(&m->accounts, cred.uid);
        if (!a) {
                log_oom_and_close(TAKE_FD(fd));
                return 0;
        }
        r = account_connection_admit(a);
        /*
         * The library keeps a connection per process, idle most of the
         * time: at the limit, the uid's oldest idle one makes room (its
         * process reconnects when it needs it again) rather than this one
         * being refused.
         */
        if ((r == -EMFILE || r == -ENFILE) && connection_drop_idle(m, a))
                r = account_connection_admit(a);
        if (r < 0) {
                log_errno(LOG_WARNING, r, "uid=%u pid=%i: %u connection(s) of this uid, %u overall, refusing: %m",
                          cred.uid, cred.pid, a->n_connections, m->accounts.n_connections);
                connection_refuse(m, TAKE_FD(fd), &cred, a, r);
                return 0;
        }
        r = socket_peer_groups(fd, cred.gid, &groups, &n_groups);
        if (r < 0) {
                log_errno(LOG_WARNING, r, "uid=%u pid=%i: cannot get peer groups: %m", cred.uid, cred.pid);
                connection_refuse(m, fd, &cred, a, r);
                return 0;
        }
        r = connection_new(m, fd, &cred, groups, n_groups, a, &c);
        if (r < 0) {
                log_errno(LOG_WARNING, r, "Cannot set up a connection: %m");
                return 0;
        }
        log_debug("uid=%u pid=%i: connected.", cred.uid, cred.pid);
        manager_activity(m);
        manager_update_status(m);
        return 0;
}

static int manager_add_listener(Manager *m, int fd) {
        int *fds;
        sd_event_source **sources;
        int r;

        fds = realloc(m->listen_fds, (m->n_listen + 1) * sizeof(int));
        if (!fds)
                return -ENOMEM;
        m->listen_fds = fds;
        sources = realloc(m->listen_sources, (m->n_listen + 1) * sizeof(sd_event_source *));
        if (!sources)
                return -ENOMEM;
        m->listen_sources = sources;
        r = sd_event_add_io(m->event, &sources[m->n_listen], fd, EPOLLIN, on_accept, m);
        if (r < 0)
                return r;
        fds[m->n_listen++] = fd;
        return 0;
}

/* Jobs the pool finished come back here, to whoever waits for them. */
static int on_pool(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        List done = LIST_INIT(done);
        PoolWork *w;

        pool_take_done(m->pool, &done);
        LIST_FOREACH_SAFE(w, next, &done, PoolWork, link) {
                Job *j = job_from_work(w);

                /* The job may be freed or submitted again: it leaves the list first. */
                list_unlink(&w->link);
                if (j->on_done)
                        j->on_done(j, j->userdata);
                else
                        job_free(j);
        }
        return 0;
}

static void on_reaped(Job *j, void *userdata) {
        job_free(j);
}

/*
 * Large memfds let go of during the event just handled (a replaced cache
 * version, a snapshot nobody holds any more) are closed, and their pages
 * freed, by a worker: not in the middle of a request, nor on the event loop.
 * The daemon's own work: charged to no uid.
 */
static int on_reap(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        _cleanup_free_ int *fds = NULL;
        size_t n;

        if (!reap_pending())
                return 0;
        n = reap_take(&fds);
        for (size_t i = 0; i < n; i++) {
                Job *j;

                if (job_new_dispose(NULL, fds + i, 1, &j) < 0) {
                        safe_close(fds[i]); /* out of memory: here, then */
                        continue;
                }
                job_submit(j, m->pool, on_reaped, NULL);
        }
        return 0;
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        log_info("Received %s, exiting.", strsignal((int) si->ssi_signo));
        return sd_event_exit(m->event, 0);
}

static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        Policy *p;
        int r;

        (void) notify_send("RELOADING=1");
        r = policy_load(m->config.policy_dir, &p);
        if (r < 0)
                log_errno(LOG_ERR, r, "Cannot reload the policy, keeping the old one: %m");
        else {
                policy_free(m->policy);
                m->policy = p;
        }
        (void) notify_send("READY=1");
        manager_update_status(m);
        return 0;
}

static bool manager_snapshots_held(Manager *m) {
        Account *a;

        account_table_gc(&m->accounts);
        LIST_FOREACH(a, &m->accounts.accounts, Account, link)
                if (a->n_holders > 0)
                        return true;
        return false;
}

static int on_exit_idle(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        Connection *c;

        /*
         * A new instance would start with fresh budgets while clients still
         * hold the memory of this one (it stays charged to the service): so
         * the daemon stays as long as any snapshot it handed out is held.
         */
        if (manager_snapshots_held(m)) {
                log_debug("Idle, but clients still hold snapshots; staying.");
                (void) sd_event_source_set_time_relative(s, m->config.exit_idle_usec);
                return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        }

        /*
         * Idle connections end with the daemon: their processes see the end
         * now and reconnect (through the socket unit, to a new instance)
         * when they need one.
         */
        LIST_FOREACH_SAFE(c, next, &m->connections, Connection, link)
                if (!c->closing)
                        connection_close(c);
        log_info("No request for %" PRIu64 " s, exiting.", m->config.exit_idle_usec / 1000000u);
        return sd_event_exit(m->event, 0);
}

static int on_gc(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        uint64_t before = snapshot_bytes_live();

        account_table_gc(&m->accounts);
        if (snapshot_bytes_live() != before)
                manager_update_status(m);
        (void) sd_event_source_set_time_relative(s, GC_INTERVAL_USEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

void manager_connection_gone(Manager *m) {
        manager_update_status(m);
        manager_activity(m);
}

void manager_activity(Manager *m) {
        if (m->config.exit_idle_usec == 0)
                return;
        if (m->n_requests > 0) {
                (void) sd_event_source_set_enabled(m->exit_idle, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time_relative(m->exit_idle, m->config.exit_idle_usec);
        (void) sd_event_source_set_enabled(m->exit_idle, SD_EVENT_ONESHOT);
}

void manager_update_status(Manager *m) {
        (void) notify_sendf("STATUS=%u connection(s), %" PRIu64 " snapshot(s) served, %" PRIu64 " byte(s) held",
                          m->accounts.n_connections, m->served, snapshot_bytes_live());
}

static void raise_nofile(void) {
        struct rlimit rl;

        /* Every live snapshot pins a descriptor; select() is never used, so the soft limit may go up. */
        if (getrlimit(RLIMIT_NOFILE, &rl) >= 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
}

int manager_new(const ManagerConfig *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        sigset_t mask;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return log_errno(LOG_ERR, -ENOMEM, "Cannot start: %m");
        m->config = *config;
        list_init(&m->connections);
        account_table_init(&m->accounts, &(AccountLimits) {
                .max_bytes_per_uid = config->max_bytes_per_uid,
                .max_bytes = config->max_bytes,
                .max_jobs_per_uid = config->max_jobs_per_uid,
                .max_jobs = MANAGER_JOBS_MAX,
                .max_connections_per_uid = config->max_connections_per_uid,
                .max_connections = config->max_connections,
        });

        raise_nofile();

        /* Blocked before any thread exists, so that every job thread inherits the mask. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        (void) signal(SIGPIPE, SIG_IGN);
        /*
         * Taking a lease makes the daemon the owner of the file for SIGIO,
         * which the kernel sends when somebody breaks the lease (a writer
         * opening the file during a copy). Its default action is to kill; the
         * copy notices the break through F_GETLEASE instead.
         */
        (void) signal(SIGIO, SIG_IGN);

        /* The loop's bounded close of a client's socket: its timer is made before the sandbox. */
        r = socket_close_init();
        if (r < 0)
                return log_errno(LOG_ERR, r, "Cannot set up the timer for closing sockets: %m");

        r = sd_event_new(&m->event);
        if (r < 0)
                return log_errno(LOG_ERR, r, "Cannot set up the event loop: %m");
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &m->start_usec);

        if ((r = sd_event_add_signal(m->event, NULL, SIGTERM, on_exit_signal, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGINT, on_exit_signal, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGHUP, on_reload, m)) < 0)
                return log_errno(LOG_ERR, r, "Cannot watch signals: %m");

        r = pool_new(MANAGER_WORKERS_MAX, &m->pool);
        if (r < 0)
                return log_errno(LOG_ERR, r, "Cannot set up the workers: %m");
        r = sd_event_add_io(m->event, &m->pool_source, pool_get_fd(m->pool), EPOLLIN, on_pool, m);
        if (r < 0)
                return log_errno(LOG_ERR, r, "Cannot watch the workers: %m");

        r = sd_event_add_post(m->event, &m->reap_source, on_reap, m);
        if (r < 0)
                return log_errno(LOG_ERR, r, "Cannot set up the reaper: %m");

        if ((r = sd_event_add_time(m->event, &m->resume_accept, CLOCK_MONOTONIC, UINT64_MAX, 0,
                                   on_resume_accept, m)) < 0 ||
            (r = sd_event_add_time(m->event, &m->exit_idle, CLOCK_MONOTONIC, UINT64_MAX, 0, on_exit_idle, m)) < 0 ||
            (r = sd_event_add_time_relative(m->event, &m->gc_timer, CLOCK_MONOTONIC, GC_INTERVAL_USEC, 0,
                                            on_gc, m)) < 0)
                return log_errno(LOG_ERR, r, "Cannot set up timers: %m");
        (void) sd_event_source_set_enabled(m->resume_accept, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(m->exit_idle, SD_EVENT_OFF);

        r = cache_new(config->cache_size, &m->cache);
        if (r < 0)
                return log_errno(LOG_ERR, r, "Cannot set up the cache: %m");
        r = resolve_setup();
        if (r < 0)
                log_errno(LOG_WARNING, r, "Cannot open /proc/self/fd, reopening the slower way: %m");
        /* Opens /proc/self/mountinfo now, before the sandbox. */
        r = fastpath_new(m->event, m->pool, &m->fastpath);
        if (r < 0)
                return log_errno(LOG_ERR, r, "Cannot set up the fast path: %m");
        r = policy_load(config->policy_dir, &m->policy);
        if (r < 0)
                return log_errno(LOG_ERR, r, "Cannot load the policy: %m");
        /* manager_listen() says why it failed. */
        r = manager_listen(m);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

int manager_run(Manager *m) {
        int r;

        manager_connection_gone(m); /* arms the idle exit */
        (void) notify_send("READY=1");
        manager_update_status(m);

        r = sd_event_loop(m->event);
        (void) notify_send("STOPPING=1");
        return r;
}

/*
 * Gives running jobs a moment to finish at exit, so that their memory is
 * freed in order (sanitizer builds report anything else as a leak). A job
 * stuck on a file that never answers is left behind.
 */
static void manager_drain_jobs(Manager *m, int timeout_ms) {
        struct timespec start, now;
        Connection *c;

        if (!m->pool)
                return;
        LIST_FOREACH(c, &m->connections, Connection, link)
                if (c->job) {
                        job_cancel(c->job);
                        c->job = NULL;
                        m->n_requests--;
                }
        (void) clock_gettime(CLOCK_MONOTONIC, &start);
        while (pool_in_flight(m->pool) > 0) {
                struct pollfd p = { .fd = pool_get_fd(m->pool), .events = POLLIN };
                long elapsed_ms;

                (void) clock_gettime(CLOCK_MONOTONIC, &now);
                elapsed_ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
                if (elapsed_ms >= timeout_ms)
                        break;
                if (poll(&p, 1, (int) (timeout_ms - elapsed_ms)) < 0 && errno != EINTR)
                        break;
                (void) on_pool(NULL, p.fd, 0, m);
        }
        if (pool_in_flight(m->pool) > 0)
                log_warning("%u job(s) still running at exit.", pool_in_flight(m->pool));
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        manager_drain_jobs(m, 5000);
        while (!list_is_empty(&m->connections))
                connection_free(LIST_FIRST(&m->connections, Connection, link));
        for (unsigned i = 0; i < m->n_listen; i++) {
                sd_event_source_disable_unref(m->listen_sources[i]);
                safe_close(m->listen_fds[i]);
        }
        if (m->own_socket)
                (void) unlink(m->config.listen_path);
        free(m->listen_sources);
        free(m->listen_fds);
        sd_event_source_disable_unref(m->resume_accept);
        sd_event_source_disable_unref(m->exit_idle);
        sd_event_source_disable_unref(m->gc_timer);
        sd_event_source_disable_unref(m->pool_source);
        sd_event_source_disable_unref(m->reap_source);
        policy_free(m->policy);
        m->fastpath = fastpath_free(m->fastpath);
        /*
         * Job threads still running (a file that never answers) use the
         * cache, the accounts and the pool: those are left to the process
         * exit then, reachable from the pool.
         */
        if (m->pool && pool_in_flight(m->pool) > 0) {
                pool_free(m->pool);
                sd_event_unref(m->event);
                manager_left_behind = m;
                return NULL;
        }
        pool_free(m->pool);
        account_table_clear(&m->accounts);
        cache_free(m->cache);
        {
                /* At exit, nothing is in the way any more. */
                _cleanup_free_ int *fds = NULL;
                size_t n = reap_take(&fds);

                for (size_t i = 0; i < n; i++)
                        safe_close(fds[i]);
        }
        sd_event_unref(m->event);
        free(m);
        return NULL;
}
