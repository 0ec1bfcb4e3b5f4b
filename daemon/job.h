/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * One piece of work on a client's behalf that a client's file can stall,
 * run on a worker thread of the pool:
 *
 *   JOB_SNAPSHOT  resolve the file, copy it (or find it in the cache), and
 *                 close the client's descriptor;
 *   JOB_DISPOSE   close descriptors a client sent (a TCP socket with
 *                 SO_LINGER, a file on a FUSE mount that never answers FLUSH
 *                 can block close() for hours, or for ever).
 *
 * A job has exactly one owner at a time: the event loop from job_new_*() to
 * job_submit(), the pool until pool_take_done() hands it back, then the event
 * loop again until job_free(). The only field both sides touch is
 * @cancelled. From creation to job_free() a snapshot job holds one job slot
 * of its uid, and while it copies, a reservation that grows with the copy;
 * both end in job_free() (the reservation possibly earlier, in
 * job_settle()). A disposal holds one of the uid's disposal slots
 * (connection.c), taken and given back with the job.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "account.h"
#include "cache.h"
#include "macro.h"
#include "pool.h"
#include "snapshot.h"

typedef enum JobKind {
        JOB_SNAPSHOT,
        JOB_DISPOSE,
} JobKind;

typedef enum JobOwner {
        JOB_OWNER_LOOP,
        JOB_OWNER_POOL,
} JobOwner;

typedef struct Job Job;
typedef void (*job_done_fn)(Job *j, void *userdata);

struct Job {
        PoolWork work;          /* first: the pool hands back a PoolWork */
        JobKind kind;
        JobOwner owner;
        Account *account;

        /* Event loop only: who takes the finished job (NULL: nobody, it is freed). */
        job_done_fn on_done;
        void *userdata;
        /* Set by the event loop when nobody waits any more: the copy stops at its next chunk. */
        bool cancelled;

        /* JOB_SNAPSHOT: either client_fd, or root_fd + relative. The worker closes both. */
        Cache *cache;
        int client_fd;
        int root_fd;
        /*
         * What the event loop checked already (fastpath.c), for a file on a
         * mount that cannot stall: the worker only opens it. For a path,
         * path_fd is the O_PATH descriptor the checks were made on.
         */
        Source src;
        int path_fd;
        char *relative;
        uint64_t resolve_flags;
        /* The grant's Users=: who besides root may own a hard-linked file it serves. */
        uid_t *owners;
        size_t n_owners;
        uint64_t limit;

        /* JOB_DISPOSE: closed by the worker. */
        int *fds;
        size_t n_fds;

        /* Grown by the worker as the copy proceeds; ended by job_settle()/job_free(). */
        uint64_t reserved;

        /* Outputs. */
        int result;
        Snapshot *snapshot;
        bool cached;
};

/*
 * New jobs, charged to @a from now on. The descriptors are taken over only
 * on success: on failure they are still the caller's, who must not close
 * them on the event loop either.
 */
int job_new_snapshot_fd(Account *a, Cache *cache, int client_fd, uint64_t limit, Job **ret);
int job_new_snapshot_path(Account *a, Cache *cache, int root_fd, const char *relative, uint64_t resolve_flags,
                          const uid_t *owners, size_t n_owners, uint64_t limit, Job **ret);
int job_new_dispose(Account *a, const int *fds, size_t n_fds, Job **ret);

/* Hands @j to the pool; @on_done(@j, @userdata) runs on the event loop when it comes back. */
void job_submit(Job *j, Pool *p, job_done_fn on_done, void *userdata);
/* Takes back a job the pool finished: the event loop owns it again. */
Job *job_from_work(PoolWork *w);
/* Nobody waits for @j any more: it stops at its next chunk and is freed when it comes back. */
void job_cancel(Job *j);

/*
 * The end of a finished snapshot job's reservation: the snapshot is charged
 * to the uid instead. Returns the job's result, or -EDQUOT when the snapshot
 * does not fit the uid's budget.
 */
int job_settle(Job *j);

Job *job_free(Job *j);
DEFINE_CLEANUP(Job, job_free);
