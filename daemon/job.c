/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "log.h"
#include "macro.h"
#include "resolve.h"

/* Sanitizer runtimes need more stack than the job itself. */
#define JOB_STACK_SIZE (1024u * 1024u)
/* Idle workers go away after this long. */
#define JOB_WORKER_IDLE_SEC 10

static Job *job_alloc(Cache *cache, uint64_t limit) {
        Job *j = calloc(1, sizeof(*j));

        if (!j)
                return NULL;
        j->cache = cache;
        j->client_fd = -EBADF;
        j->root_fd = -EBADF;
        j->notify_fd = -EBADF;
        j->limit = limit;
        return j;
}

int job_new_fd(Cache *cache, int client_fd, uint64_t limit, Job **ret) {
        Job *j = job_alloc(cache, limit);

        if (!j) {
                safe_close(client_fd);
                return -ENOMEM;
        }
        j->client_fd = client_fd;
        *ret = j;
        return 0;
}

int job_new_path(Cache *cache, int root_fd, const char *relative, uint64_t resolve_flags, uint64_t limit, Job **ret) {
        Job *j = job_alloc(cache, limit);

        if (!j)
                return -ENOMEM;
        j->resolve_flags = resolve_flags;
        j->relative = strdup(relative);
        /* A duplicate: a policy reload may close the grant's own descriptor while the job runs. */
        j->root_fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        if (!j->relative || j->root_fd < 0) {
                int r = j->relative ? negative_errno() : -ENOMEM;

                job_free(j);
                return r;
        }
        *ret = j;
        return 0;
}

void job_set_account(Job *j, Account *a, uint64_t budget) {
        j->account = a;
        j->budget = budget;
        a->n_jobs++;
}

/* Event loop only, like every change of an account's counters but the reservation. */
Job *job_free(Job *j) {
        if (!j)
                return NULL;
        if (j->account) {
                if (j->reserved)
                        account_unreserve(j->account, j->reserved);
                j->account->n_jobs--;
        }
        safe_close(j->client_fd);
        safe_close(j->root_fd);
        free(j->relative);
        snapshot_unref(j->snapshot);
        free(j);
        return NULL;
}

/*
 * Memory is reserved before it is spent, from st_size: parallel copies of one
 * uid must not take the daemon past the uid's budget first and be refused
 * only afterwards. (Files that lie about their size are still bounded by the
 * per-file limit.)
 */
static int job_copy(Job *j, int fd, const struct statx *stx, Snapshot **ret) {
        if (j->account) {
                uint64_t cost = snapshot_cost(stx->stx_size < j->limit ? stx->stx_size : j->limit);
                int r = account_reserve(j->account, cost, j->budget);

                if (r < 0)
                        return r;
                j->reserved = cost;
        }
        return snapshot_new_copy(fd, j->borrowed, j->limit, ret);
}

static int job_run(Job *j) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_snapshot_ Snapshot *s = NULL;
        SnapshotKey key;
        struct statx stx;
        bool synthetic;
        int r;

        if (j->client_fd >= 0)
                r = resolve_fd(j->client_fd, &fd, &stx, &j->borrowed);
        else
                r = resolve_path(j->root_fd, j->relative, j->resolve_flags, &fd, &stx);
        if (r < 0)
                return r;
        /* The client's descriptor is not needed any more: the daemon has its own. */
        j->client_fd = safe_close(j->client_fd);

        if (snapshot_source_is_verity(fd, &stx)) {
                if (stx.stx_size > j->limit)
                        return -EFBIG;
                return snapshot_new_verity(TAKE_FD(fd), &stx, &j->snapshot);
        }

        /*
         * Synthetic files are never shared: their content may depend on who
         * opened them. Everything else is shared between identical requests,
         * also while the first copy is still being made.
         */
        synthetic = resolve_fs_is_synthetic(fd);
        snapshot_key_from_statx(&stx, &key);
        if (!synthetic) {
                s = cache_acquire(j->cache, &key);
                if (s) {
                        if (s->size > j->limit)
                                return -EFBIG;
                        j->cached = true;
                        j->snapshot = TAKE_PTR(s);
                        return 0;
                }
        }

        r = job_copy(j, fd, &stx, &s);
        if (synthetic) {
                if (r >= 0)
                        j->snapshot = TAKE_PTR(s);
                return r;
        }
        j->snapshot = cache_complete(j->cache, &key, r >= 0 ? s : NULL);
        /* Served what another copy of the same version made: ours is dropped. */
        j->cached = j->snapshot && j->snapshot != s;
        return r;
}

/*
 * Jobs run on a pool of threads that grows on demand (one thread per job
 * waiting, so that a stuck file never holds up a job queued behind it) and
 * shrinks when threads stay idle: starting a thread per request cost more
 * than the request itself.
 */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_wakeup = PTHREAD_COND_INITIALIZER;
static Job *queue_head, *queue_tail;
static unsigned n_queued, n_idle;

/*
 * Every job from job_start() until the event loop takes it back. Between the
 * two the job belongs to the pool, and is not always on a worker's stack: a
 * finished one lives only as a pointer in the notify pipe. At exit with jobs
 * still running (a file that never answers), the manager stops reading that
 * pipe; a job that finishes then must still be reachable, or LeakSanitizer
 * reports it as lost and fails the exit.
 */
static Job *started;

static void job_finish(Job *j) {
        j->result = job_run(j);
        /* A pointer is far below PIPE_BUF: the write is atomic, and the pipe never fills up. */
        if (write(j->notify_fd, &j, sizeof(j)) != sizeof(j))
                log_errno(LOG_CRIT, negative_errno(), "Cannot report a finished job: %m");
}

static void *job_worker(void *userdata) {
        pthread_mutex_lock(&pool_lock);
        for (;;) {
                Job *j;

                while (!queue_head) {
                        struct timespec deadline;
                        int r;

                        (void) clock_gettime(CLOCK_REALTIME, &deadline);
                        deadline.tv_sec += JOB_WORKER_IDLE_SEC;
                        n_idle++;
                        r = pthread_cond_timedwait(&pool_wakeup, &pool_lock, &deadline);
                        n_idle--;
                        if (r == ETIMEDOUT && !queue_head) {
                                pthread_mutex_unlock(&pool_lock);
                                return NULL;
                        }
                }
                j = queue_head;
                queue_head = j->queue_next;
                if (!queue_head)
                        queue_tail = NULL;
                n_queued--;
                pthread_mutex_unlock(&pool_lock);

                job_finish(j);

                pthread_mutex_lock(&pool_lock);
        }
}

static void started_remove(Job *j) {
        if (j->started_prev)
                j->started_prev->started_next = j->started_next;
        else
                started = j->started_next;
        if (j->started_next)
                j->started_next->started_prev = j->started_prev;
        j->started_prev = j->started_next = NULL;
}

void job_reclaim(Job *j) {
        started_remove(j);
}

int job_start(Job *j, int notify_fd) {
        int r = 0;

        j->notify_fd = notify_fd;
        j->queue_next = NULL;
        j->started_prev = NULL;
        j->started_next = started;
        if (started)
                started->started_prev = j;
        started = j;

        pthread_mutex_lock(&pool_lock);
        if (queue_tail)
                queue_tail->queue_next = j;
        else
                queue_head = j;
        queue_tail = j;
        n_queued++;

        if (n_queued > n_idle) {
                pthread_attr_t attr;
                pthread_t thread;

                r = pthread_attr_init(&attr);
                if (r == 0) {
                        (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                        (void) pthread_attr_setstacksize(&attr, JOB_STACK_SIZE);
                        r = pthread_create(&thread, &attr, job_worker, NULL);
                        pthread_attr_destroy(&attr);
                }
                if (r != 0) {
                        /* Take the job back out: it is the caller's to free. */
                        Job **p = &queue_head;

                        queue_tail = NULL;
                        while (*p != j) {
                                queue_tail = *p;
                                p = &(*p)->queue_next;
                        }
                        *p = NULL;
                        n_queued--;
                }
        } else
                pthread_cond_signal(&pool_wakeup);
        pthread_mutex_unlock(&pool_lock);
        if (r != 0)
                started_remove(j);
        return -r;
}
