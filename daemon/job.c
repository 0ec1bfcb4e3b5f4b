/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "log.h"
#include "macro.h"
#include "resolve.h"

static Job *job_alloc(Account *a, JobKind kind) {
        Job *j = calloc(1, sizeof(*j));

        if (!j)
                return NULL;
        j->kind = kind;
        j->owner = JOB_OWNER_LOOP;
        j->account = a;
        j->client_fd = -EBADF;
        j->root_fd = -EBADF;
        j->path_fd = -EBADF;
        j->src = SOURCE_NULL;
        /* Requests count against the uid's jobs; disposals have their own bound (account_may_dispose()). */
        if (kind == JOB_SNAPSHOT)
                account_job_add(a);
        return j;
}

/* A request of @a: its copy goes through @cache and stops at @limit bytes. */
static Job *job_alloc_snapshot(Account *a, Cache *cache, uint64_t limit) {
        Job *j = job_alloc(a, JOB_SNAPSHOT);

        if (!j)
                return NULL;
        j->cache = cache;
        j->limit = limit;
        return j;
}

int job_new_snapshot_fd(Account *a, Cache *cache, int client_fd, uint64_t limit, Job **ret) {
        Job *j = job_alloc_snapshot(a, cache, limit);

        if (!j)
                return -ENOMEM;
        j->client_fd = client_fd;
        *ret = j;
        return 0;
}

int job_new_snapshot_path(Account *a, Cache *cache, int root_fd, const char *relative, uint64_t resolve_flags,
                          const uid_t *owners, size_t n_owners, uint64_t limit, Job **ret) {
        _cleanup_(job_freep) Job *j = job_alloc_snapshot(a, cache, limit);

        if (!j)
                return -ENOMEM;
        j->resolve_flags = resolve_flags;
        j->relative = strdup(relative);
        if (!j->relative)
                return -ENOMEM;
        /* Copies: a policy reload may free the grant while the job runs. */
        if (n_owners > 0) {
                j->owners = calloc(n_owners, sizeof(*owners));
                if (!j->owners)
                        return -ENOMEM;
                memcpy(j->owners, owners, n_owners * sizeof(*owners));
                j->n_owners = n_owners;
        }
        j->root_fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        if (j->root_fd < 0)
                return negative_errno();
        *ret = TAKE_PTR(j);
        return 0;
}

int job_new_dispose(Account *a, const int *fds, size_t n_fds, Job **ret) {
        Job *j = job_alloc(a, JOB_DISPOSE);

        if (!j)
                return -ENOMEM;
        j->fds = malloc(n_fds * sizeof(int) + 1);
        if (!j->fds) {
                job_free(j);
                return -ENOMEM;
        }
        memcpy(j->fds, fds, n_fds * sizeof(int));
        j->n_fds = n_fds;
        *ret = j;
        return 0;
}

/* Before each chunk of a copy: the one place a reservation grows, and where a cancelled job stops. */
static int job_progress(void *userdata, uint64_t total) {
        Job *j = userdata;
        int r;

        if (__atomic_load_n(&j->cancelled, __ATOMIC_RELAXED))
                return -ECANCELED;
        r = account_reserve(j->account, &j->reserved, snapshot_cost(total));
        /* Short of memory overall: what only the cache keeps makes room, once per chunk. */
        if (r == -ENOSPC && cache_trim(j->cache, snapshot_cost(total) - j->reserved) > 0)
                r = account_reserve(j->account, &j->reserved, snapshot_cost(total));
        return r;
}

/* The checks (unless the event loop made them already), then the open: resolve.c, one way for both. */
static int job_resolve(Job *j) {
        int r;

        if (!j->src.checked) {
                if (j->client_fd >= 0)
                        r = resolve_fd_check(j->client_fd, &j->src);
                else
                        r = resolve_path_check(j->root_fd, j->relative, j->resolve_flags, j->owners, j->n_owners,
                                               &j->path_fd, &j->src);
                if (r < 0)
                        return r;
        }
        if (j->client_fd >= 0)
                return resolve_fd_open(j->client_fd, &j->src);
        return resolve_path_open(j->path_fd, &j->src);
}

static int job_run_snapshot(Job *j) {
        _cleanup_snapshot_ Snapshot *s = NULL;
        Source src;
        FileVersion key;
        int r;

        r = job_resolve(j);
        src = j->src;
        j->src = SOURCE_NULL;
        /* The client's descriptor is not needed any more (the daemon has its own), and this is the thread to close it. */
        j->client_fd = safe_close(j->client_fd);
        j->root_fd = safe_close(j->root_fd);
        j->path_fd = safe_close(j->path_fd);
        if (r < 0) {
                source_done(&src);
                return r;
        }

        if (src.verity) {
                if (src.stx.stx_size > j->limit) {
                        source_done(&src);
                        return -EFBIG;
                }
                return snapshot_new_verity(&src, &j->snapshot);
        }

        /*
         * Shared between identical requests, also while the first copy is
         * still being made (synthetic files, whose content may depend on who
         * reads, never get here: resolve.c refuses them).
         */
        file_version_from_statx(&src.stx, &key);
        s = cache_acquire(j->cache, &key);
        if (s) {
                source_done(&src);
                if (s->size > j->limit)
                        return -EFBIG;
                j->cached = true;
                j->snapshot = TAKE_PTR(s);
                return 0;
        }

        r = snapshot_new_copy(&src, j->limit, job_progress, j, &s);
        source_done(&src);
        j->snapshot = cache_complete(j->cache, &key, r >= 0 ? s : NULL);
        /* Served what another copy of the same version made: ours is dropped. */
        j->cached = j->snapshot && j->snapshot != s;
        return r;
}

static void job_run(PoolWork *w) {
        Job *j = (Job *) w;

        switch (j->kind) {
        case JOB_SNAPSHOT:
                j->result = job_run_snapshot(j);
                break;
        case JOB_DISPOSE:
                /* Each close() may wait for a peer or a FUSE server: that costs this uid's slot only. */
                for (size_t i = 0; i < j->n_fds; i++)
                        j->fds[i] = safe_close(j->fds[i]);
                j->n_fds = 0;
                j->result = 0;
                break;
        }
}

void job_submit(Job *j, Pool *p, job_done_fn on_done, void *userdata) {
        int r;

        assert(j->owner == JOB_OWNER_LOOP);
        j->on_done = on_done;
        j->userdata = userdata;
        j->work.run = job_run;
        j->owner = JOB_OWNER_POOL;
        r = pool_submit(p, &j->work);
        if (r < 0)
                log_errno(LOG_WARNING, r, "Cannot start a worker thread, the request waits for one: %m");
}

Job *job_from_work(PoolWork *w) {
        Job *j = (Job *) w;

        j->owner = JOB_OWNER_LOOP;
        return j;
}

void job_cancel(Job *j) {
        j->on_done = NULL;
        j->userdata = NULL;
        __atomic_store_n(&j->cancelled, true, __ATOMIC_RELAXED);
}

int job_settle(Job *j) {
        int r;

        assert(j->owner == JOB_OWNER_LOOP);
        r = account_settle(j->account, &j->reserved, j->result >= 0 ? j->snapshot : NULL);
        return j->result < 0 ? j->result : r;
}

Job *job_free(Job *j) {
        if (!j)
                return NULL;
        assert(j->owner == JOB_OWNER_LOOP);
        /* Client descriptors are only ever closed by a worker: a job that never ran has none. */
        assert(j->client_fd < 0 && j->n_fds == 0);
        (void) account_settle(j->account, &j->reserved, NULL);
        if (j->kind == JOB_SNAPSHOT)
                account_job_remove(j->account);
        safe_close(j->root_fd);
        /* The daemon's own O_PATH descriptor (fastpath.c): closing it never calls into the file system. */
        safe_close(j->path_fd);
        source_done(&j->src);
        free(j->relative);
        free(j->owners);
        free(j->fds);
        snapshot_unref(j->snapshot);
        free(j);
        return NULL;
}
