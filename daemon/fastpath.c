/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <linux/openat2.h>
#include <stdlib.h>

#include "connection.h"
#include "fastpath.h"
#include "file-version.h"
#include "log.h"
#include "macro.h"
#include "resolve.h"
#include "pool.h"

/* A client's descriptor of a hit, waiting for a disposal of its uid. */
typedef struct PendingFd {
        Account *account;
        int fd;
} PendingFd;

struct FastPath {
        Mounts *mounts;
        Pool *pool;
        sd_event_source *dispose_timer;
        bool dispose_armed;
        /*
         * Kept here rather than in the account's own list of descriptors to
         * close: every disposal of a uid that ends starts the next one with
         * whatever waits there, which would close a hit's descriptor or two
         * at a time, a worker's wake-up each. These go in batches.
         */
        PendingFd *pending;
        size_t n_pending;
        uint64_t answered;
};

static void fastpath_arm(FastPath *f) {
        if (f->dispose_armed)
                return;
        if (sd_event_source_set_time_relative(f->dispose_timer, FASTPATH_DISPOSE_DELAY_USEC) >= 0 &&
            sd_event_source_set_enabled(f->dispose_timer, SD_EVENT_ONESHOT) >= 0)
                f->dispose_armed = true;
}

static void on_disposed(Job *j, void *userdata) {
        Account *a = userdata;

        a->n_disposing--;
        job_free(j);
        /* The uid's other closes may wait for the slot this one held. */
        connection_dispose_next(a);
}

/* Hands the descriptors of @a that wait here to a disposal job, if the uid may have one more. */
static void fastpath_flush_account(FastPath *f, Account *a) {
        int fds[CONNECTION_FDS_MAX];
        size_t n = 0, k = 0;
        Job *j;

        if (!account_may_dispose(a))
                return; /* its closes are slow: the timer tries again */
        for (size_t i = 0; i < f->n_pending && n < ELEMENTSOF(fds); i++)
                if (f->pending[i].account == a)
                        fds[n++] = f->pending[i].fd;
        if (n == 0 || job_new_dispose(a, fds, n, &j) < 0)
                return;
        /* The job has them now: drop them from the list, keeping the order of the rest. */
        for (size_t i = 0, taken = 0; i < f->n_pending; i++)
                if (f->pending[i].account == a && taken < n)
                        taken++;
                else
                        f->pending[k++] = f->pending[i];
        f->n_pending = k;
        a->n_fastpath_fds -= (unsigned) n;
        a->n_disposing++;
        job_submit(j, f->pool, on_disposed, a);
}

static int on_dispose_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        FastPath *f = userdata;

        f->dispose_armed = false;
        for (size_t i = 0; i < f->n_pending; ) {
                size_t before = f->n_pending;

                fastpath_flush_account(f, f->pending[i].account);
                /* Taken: the list moved up, look at the same place again; else on to the next. */
                if (f->n_pending == before)
                        i++;
                else
                        i = 0;
        }
        if (f->n_pending > 0)
                fastpath_arm(f);
        return 0;
}

int fastpath_new(sd_event *event, Pool *pool, FastPath **ret) {
        FastPath *f = calloc(1, sizeof(*f));
        int r;

        if (!f)
                return -ENOMEM;
        f->pool = pool;
        f->pending = calloc(FASTPATH_PENDING_MAX, sizeof(*f->pending));
        if (!f->pending) {
                free(f);
                return -ENOMEM;
        }
        r = mounts_new(event, "/sys", &f->mounts);
        if (r < 0)
                log_errno(LOG_WARNING, r, "Cannot read /proc/self/mountinfo, every request goes to a worker: %m");
        r = sd_event_add_time(event, &f->dispose_timer, CLOCK_MONOTONIC, UINT64_MAX, FASTPATH_DISPOSE_DELAY_USEC / 2,
                              on_dispose_timer, f);
        if (r >= 0)
                r = sd_event_source_set_enabled(f->dispose_timer, SD_EVENT_OFF);
        if (r < 0) {
                fastpath_free(f);
                return r;
        }
        *ret = f;
        return 0;
}

FastPath *fastpath_free(FastPath *f) {
        if (!f)
                return NULL;
        sd_event_source_disable_unref(f->dispose_timer);
        mounts_free(f->mounts);
        /* Descriptors still waiting are left to the process exit: closing them here could block it. */
        for (size_t i = 0; i < f->n_pending; i++)
                f->pending[i].account->n_fastpath_fds--;
        free(f->pending);
        free(f);
        return NULL;
}

/* Whether the file open as @fd is on a mount that cannot stall: asked of the VFS and the table only. */
static bool fd_cannot_stall(FastPath *f, int fd) {
        int id = mounts_fd_mount_id(fd);

        return id >= 0 && mounts_cannot_stall(f->mounts, id);
}

/* The checks a worker would make, on the event loop: false when they cannot be made here. */
static bool fastpath_check(FastPath *f, Job *j) {
        Source src;

        if (j->client_fd >= 0) {
                if (!fd_cannot_stall(f, j->client_fd))
                        return false;
                if (resolve_fd_check(j->client_fd, &src) < 0)
                        return false;
        } else {
                _cleanup_close_ int path_fd = -EBADF;

                if (j->root_fd < 0 || !fd_cannot_stall(f, j->root_fd))
                        return false;
                /*
                 * RESOLVE_CACHED: EAGAIN rather than a look-up in the file
                 * system; RESOLVE_NO_XDEV: the file is on the root's mount,
                 * which cannot stall. Whatever fails here (an escape, a
                 * mount crossed beneath the root, a name not cached, a
                 * refusal) is decided by a worker, with the grant's own
                 * flags, as before.
                 */
                if (resolve_path_check(j->root_fd, j->relative,
                                       j->resolve_flags | RESOLVE_CACHED | RESOLVE_NO_XDEV, j->owners, j->n_owners,
                                       &path_fd, &src) < 0)
                        return false;
                j->path_fd = TAKE_FD(path_fd);
        }
        j->src = src;
        return true;
}

bool fastpath_try(FastPath *f, Job *j, int *ret_client_fd) {
        FileVersion key;
        Snapshot *s;

        if (!f || !f->mounts || j->kind != JOB_SNAPSHOT)
                return false;
        if (!fastpath_check(f, j))
                return false;
        /* fs-verity files are opened and served as they are, by a worker. */
        if (source_may_be_verity(&j->src))
                return false;
        file_version_from_statx(&j->src.stx, &key);
        s = cache_lookup(j->cache, &key);
        if (!s)
                return false;
        if (s->size > j->limit) {
                /* Refused by a worker (-EFBIG) the way it always was. */
                snapshot_unref(s);
                return false;
        }
        j->snapshot = s;
        j->cached = true;
        j->result = 0;
        *ret_client_fd = TAKE_FD(j->client_fd);
        j->path_fd = safe_close(j->path_fd);
        f->answered++;
        return true;
}

int fastpath_dispose(FastPath *f, Account *a, int fd) {
        /* As many as the account's own list would take, and a bound for all uids together. */
        if (f->n_pending >= FASTPATH_PENDING_MAX ||
            a->n_fastpath_fds >= ACCOUNT_PENDING_PER_CONNECTION * a->table->limits.max_connections_per_uid)
                return -ENOBUFS;
        f->pending[f->n_pending++] = (PendingFd) { .account = a, .fd = fd };
        a->n_fastpath_fds++;
        if (a->n_fastpath_fds >= FASTPATH_DISPOSE_BATCH)
                fastpath_flush_account(f, a);
        if (f->n_pending > 0)
                fastpath_arm(f);
        return 0;
}

void fastpath_flush(FastPath *f) {
        if (!f)
                return;
        (void) on_dispose_timer(f->dispose_timer, 0, f);
}

uint64_t fastpath_answered(const FastPath *f) {
        return f ? f->answered : 0;
}

Mounts *fastpath_mounts(FastPath *f) {
        return f ? f->mounts : NULL;
}
