/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * Per-uid bookkeeping and every limit a uid can run into, decided here and
 * nowhere else:
 *
 *   connections      per uid (-EMFILE) and overall (-ENFILE)
 *   jobs             running + queued per uid (-EAGAIN) and overall (-ENOBUFS)
 *   memory           held + being copied per uid (-EDQUOT) and overall (-ENOSPC)
 *
 * Subordinate uids (rootless containers get 65536 of them per user) would
 * multiply any per-uid limit: all uids from ACCOUNT_SUBORDINATE_UID_MIN up
 * share one quarter of the overall connections and jobs, so that the uids of
 * the system's real users always keep the rest.
 *
 * Memfd pages stay charged to the daemon as long as any client holds them,
 * so a uid's budget counts every snapshot it was given until a probe
 * (snapshot_probe_unused()) shows that nobody holds it any more (a few per
 * request, all of them periodically or when a budget runs out); except a
 * snapshot several uids were given, which the cache pays for while it keeps
 * it (account_pays()). Copies
 * reserve memory as they grow, from a worker thread (account_reserve());
 * everything else runs on the event loop, without locking.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "list.h"
#include "snapshot.h"

/* Live snapshots a uid may hold at once, whatever their size: each pins one descriptor in the daemon. */
#define ACCOUNT_SNAPSHOTS_MAX 4096u
/* Above the uids that login.defs hands out (UID_MAX 60000), below SUB_UID_MIN (100000). */
#define ACCOUNT_SUBORDINATE_UID_MIN 65536u

typedef struct AccountLimits {
        uint64_t max_bytes_per_uid;
        uint64_t max_bytes;
        unsigned max_jobs_per_uid;
        unsigned max_jobs;
        unsigned max_connections_per_uid;
        unsigned max_connections;
} AccountLimits;

typedef struct Holder {
        Snapshot *snapshot;
        List link;              /* in its account's holders */
} Holder;

typedef struct AccountTable AccountTable;

typedef struct Account {
        AccountTable *table;
        uid_t uid;
        unsigned n_connections; /* open */
        unsigned n_closing;     /* whose socket (and what it received) is still being closed */
        /*
         * Sockets refused for a limit, waiting for a worker to close them
         * (they may hold descriptors the client queued before the refusal),
         * at most ACCOUNT_PENDING_PER_CONNECTION per allowed connection.
         */
        int *pending_fds;
        size_t n_pending_fds, n_pending_alloc;
        /* Descriptors of cache hits answered on the event loop, waiting in fastpath.c for a batch to be closed. */
        unsigned n_fastpath_fds;
        /*
         * Disposals (closing what clients sent) running for this uid, and
         * its connections waiting for one: a uid's closes that stall hold
         * at most its jobs limit of workers, however fast it churns.
         */
        unsigned n_disposing;
        List dispose_waiting;   /* Connection.dispose_link, first come first served */
        unsigned n_holders;
        unsigned n_jobs;        /* requests (snapshot jobs) until they are freed, cancelled ones too */
        /* Charged bytes (event loop only) and bytes reserved by running copies (atomic). */
        uint64_t bytes;
        uint64_t reserved;
        List holders;           /* Holder.link, newest first */
        /* Where the next bounded probe goes on: the holder to probe next (NULL: from the start). */
        Holder *probe_at;
        List link;              /* in the table's accounts */
} Account;

struct AccountTable {
        AccountLimits limits;
        List accounts;          /* Account.link */
        unsigned n_accounts;    /* for tests: accounts are freed once unused */
        unsigned n_connections, n_connections_subordinate;
        unsigned n_jobs, n_jobs_subordinate;
        uint64_t reserved;      /* atomic: all copies' reservations */
        uint64_t n_probes;      /* holder probes so far (each one a pair of fcntl() calls): for tests */
};

void account_table_init(AccountTable *t, const AccountLimits *limits);

/* The account of @uid, created when missing; NULL on allocation failure. */
Account *account_get(AccountTable *t, uid_t uid);

/*
 * Whether @a may open one more connection: 0, -EMFILE (its own limit, or as
 * many connections still being closed) or -ENFILE (overall, or its share).
 * Closing a connection may stall (it closes what the client sent); a uid
 * holds at most its jobs limit of workers for requests, and as many for
 * closing (account_may_dispose()).
 */
int account_connection_admit(Account *a);
void account_connection_add(Account *a);
/* An open connection starts closing. */
void account_connection_closing(Account *a);
/* Refused sockets a uid may have waiting to be closed, per connection it may have open. */
#define ACCOUNT_PENDING_PER_CONNECTION 16u
/*
 * Connections of a uid still being closed (their sockets wait for a worker)
 * per allowed connection: room for closes that lag behind on a busy machine,
 * a bound for closes that are stuck.
 */
#define ACCOUNT_CLOSING_PER_CONNECTION 4u

/*
 * Keeps the refused socket @fd until a worker of @a closes it: 0, -ENOBUFS
 * when the uid has too many waiting already, or -ENOMEM (then @fd is still
 * the caller's).
 */
int account_pend_fd(Account *a, int fd);
/* Whether one more disposal of @a may run now (else it waits for one of the uid's to end). */
bool account_may_dispose(const Account *a);
/* A closing connection is closed. */
void account_closing_done(Account *a);

/* Whether @a may start one more request: 0, -EAGAIN (its own limit) or -ENOBUFS (overall, or its share). */
int account_job_admit(Account *a);
/* Every request counts from its job's creation to its job_free(). */
void account_job_add(Account *a);
void account_job_remove(Account *a);

/*
 * From a worker: grows the reservation *@reserved of a copy to @total bytes
 * (nothing when it is that large already). -EDQUOT when the uid's held and
 * reserved bytes would pass its budget, -ENOSPC when everything held and
 * reserved would pass the overall one; the reservation stays as it was.
 */
int account_reserve(Account *a, uint64_t *reserved, uint64_t total);

/*
 * Event loop: the one place a reservation ends. Gives back *@reserved and,
 * when @s is not NULL, charges @s to @a instead (unless @a holds it
 * already). Returns -EDQUOT when @s does not fit the uid's budget (then
 * nothing is charged).
 */
int account_settle(Account *a, uint64_t *reserved, Snapshot *s);

/* Releases the snapshots of @a that nobody holds any more: probes every one. */
void account_release_unused(Account *a);

/* Holders probed per request: what a request costs does not grow with what its uid holds. */
#define ACCOUNT_PROBES_PER_REQUEST 4u

/*
 * Before a request of @a: probes the next ACCOUNT_PROBES_PER_REQUEST
 * snapshots of @a, round robin, and releases those nobody holds any more;
 * all of them when @a has used more than half its memory budget, so that
 * what it let go of is not held against the coming copy. The periodic
 * collection (account_table_gc()) probes them all too.
 */
void account_release_some(Account *a);

/* Releases snapshots nobody holds any more and frees idle accounts. */
void account_table_gc(AccountTable *t);
void account_table_clear(AccountTable *t);
