/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * One snapshot request, run on a worker thread: resolving, reading and
 * copying may block for as long as the filesystem likes (FUSE, NFS), and the
 * event loop must never wait for one client's file. A finished job writes its
 * own pointer to the manager's completion pipe; the event loop replies.
 */

#include <stdbool.h>
#include <stdint.h>

#include "account.h"
#include "cache.h"
#include "snapshot.h"

struct Connection;

typedef struct Job {
        /* Event loop only: NULL once the connection went away or gave up waiting. */
        struct Connection *connection;

        /* Inputs, owned by the job. Either client_fd, or root_fd + relative. */
        Cache *cache;
        int client_fd;
        int root_fd;
        char *relative;
        uint64_t resolve_flags;
        uint64_t limit;
        int notify_fd;
        /* The uid's account: copies reserve memory against its budget first. */
        Account *account;
        uint64_t budget;
        uint64_t reserved;

        bool borrowed;          /* the source is the client's own open file description */
        struct Job *queue_next; /* waiting for a worker */
        /* Event loop only: in the list of started jobs, from job_start() to job_reclaim(). */
        struct Job *started_prev, *started_next;

        /* Outputs. */
        int result;
        Snapshot *snapshot;
        bool cached;
} Job;

/* A job for the descriptor @client_fd, taken over (closed on failure too). */
int job_new_fd(Cache *cache, int client_fd, uint64_t limit, Job **ret);
/* A job for @relative beneath a duplicate of @root_fd. */
int job_new_path(Cache *cache, int root_fd, const char *relative, uint64_t resolve_flags, uint64_t limit, Job **ret);
Job *job_free(Job *j);

/*
 * Ties @j to the account of its uid (whose budget is @budget bytes). The
 * account then stays alive until job_free(), even if the connection goes.
 */
void job_set_account(Job *j, Account *a, uint64_t budget);

/* Hands the job to a worker thread; it reports to @notify_fd when done. */
int job_start(Job *j, int notify_fd);
/* Takes back a job read from the notify pipe: it is the caller's again. */
void job_reclaim(Job *j);
