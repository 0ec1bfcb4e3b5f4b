/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * The daemon's event loop: listening sockets (own or from systemd),
 * connections and their limits, the per-uid accounts, the cache, the policy,
 * job completions, signals and sd_notify.
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "account.h"
#include "cache.h"
#include "macro.h"
#include "policy.h"
#include "pool.h"

typedef struct Connection Connection;
typedef struct FastPath FastPath;

typedef struct ManagerConfig {
        const char *listen_path;        /* NULL: sockets come from systemd */
        const char *policy_dir;
        uint64_t exit_idle_usec;        /* 0: never */
        uint64_t max_size;
        uint64_t cache_size;
        uint64_t max_bytes_per_uid;
        uint64_t max_bytes;
        unsigned max_connections;
        unsigned max_connections_per_uid;
        unsigned max_jobs_per_uid;
        uint64_t idle_timeout_usec;     /* 0: never */
} ManagerConfig;

/* Worker threads: everything a client's file can stall runs on one of them. */
#define MANAGER_WORKERS_MAX 128u
/* Jobs running and queued, of all uids together (abandoned ones count until they are gone). */
#define MANAGER_JOBS_MAX (4u * MANAGER_WORKERS_MAX)
/* Default jobs of one uid: per core, so that one uid cannot keep the machine busy alone. */
#define MANAGER_JOBS_PER_CPU 4u
/* How long a request may take before the client is told -ETIMEDOUT (its own timeout is 30 s). */
#define MANAGER_JOB_DEADLINE_USEC (25u * 1000u * 1000u)

typedef struct Manager {
        ManagerConfig config;
        sd_event *event;

        int *listen_fds;
        sd_event_source **listen_sources;
        unsigned n_listen;
        bool own_socket;                /* --listen: ours to unlink at exit */
        sd_event_source *resume_accept; /* accepting paused after EMFILE */
        bool accept_starved;

        sd_event_source *exit_idle;
        sd_event_source *gc_timer;

        Pool *pool;
        sd_event_source *pool_source;
        sd_event_source *reap_source;   /* after every event: large memfds let go of are closed by a worker */

        List connections;               /* Connection.link: open ones, and those whose socket is still being closed */
        unsigned n_requests;            /* connections with a request in flight: only these keep the daemon from exiting idle */
        AccountTable accounts;
        Cache *cache;
        Policy *policy;
        FastPath *fastpath;             /* cache hits on files that cannot stall, answered on the event loop */

        uint64_t served;
        uint64_t start_usec;
} Manager;

/* Logs why it fails: its caller only decides to exit. */
int manager_new(const ManagerConfig *config, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_CLEANUP(Manager, manager_free);
/* Runs until SIGTERM/SIGINT or the idle exit; returns 0 or a negative errno. */
int manager_run(Manager *m);

/* Called by connections. */
void manager_connection_gone(Manager *m);
/*
 * Something happened (a connection, a request, a reply): the idle exit
 * counts from the last one, and not at all while a request is in flight.
 * An idle connection does not count: the library keeps one per process.
 */
void manager_activity(Manager *m);
void manager_update_status(Manager *m);
