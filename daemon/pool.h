/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * A fixed bound of worker threads for everything a client's file can stall:
 * statx, read, lease and close. Work waits in one queue for a free thread;
 * threads start on demand up to the bound and go away when idle. Finished
 * work lands on a done list that the event loop takes back, woken through an
 * eventfd. Between pool_submit() and pool_take_done() the work belongs to
 * the pool, and nobody else may touch it.
 *
 * The pool never refuses work: admission (how much of it one uid may have)
 * is decided before, in account.c. A thread stuck for ever in a file system
 * that never answers is lost to the pool, which is why a uid may only ever
 * hold a small share of the threads.
 */

#include <stdint.h>

#include "list.h"

typedef struct PoolWork PoolWork;
typedef void (*pool_run_fn)(PoolWork *w);

struct PoolWork {
        pool_run_fn run;        /* runs on a worker thread */
        List link;              /* the pool's, while it owns the work */
};

typedef struct Pool Pool;

int pool_new(unsigned max_threads, Pool **ret);
/*
 * Waits for idle threads to go and frees the pool. With work still running
 * (a thread stuck in a file system) the pool is left allocated: the stuck
 * thread still uses it, and the process exit takes it.
 */
Pool *pool_free(Pool *p);

/* Readable while finished work waits for pool_take_done(). */
int pool_get_fd(Pool *p);

/*
 * Queues @w to run on a worker. Never fails: when no thread can be started
 * (-errno returned for the caller to log) the work waits for the next one.
 */
int pool_submit(Pool *p, PoolWork *w);

/*
 * Takes back all finished work: appends it to @done, oldest first. Each
 * item is the caller's again once unlinked from @done.
 */
void pool_take_done(Pool *p, List *done);

/* Threads that exist right now, and the bound. */
unsigned pool_threads(Pool *p);
unsigned pool_max_threads(Pool *p);
/* Work submitted and not taken back yet. */
unsigned pool_in_flight(Pool *p);
