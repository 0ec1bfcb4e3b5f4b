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

struct FastPath {
        Mounts *mounts;
        AccountTable *accounts;
        sd_event_source *dispose_timer;
        bool dispose_armed;
        uint64_t answered;
};

static int on_dispose_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        FastPath *f = userdata;

        f->dispose_armed = false;
        /* One disposal per uid starts here; each one that ends starts the next (connection_dispose_next()). */
        for (Account *a = f->accounts->accounts; a; a = a->next)
                if (a->n_pending_fds > 0)
                        connection_dispose_next(a);
        return 0;
}

int fastpath_new(sd_event *event, AccountTable *accounts, FastPath **ret) {
        FastPath *f = calloc(1, sizeof(*f));
        int r;

        if (!f)
                return -ENOMEM;
        f->accounts = accounts;
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
        free(f);
        return NULL;
}

/* Whether the file open as @fd is on a mount that cannot stall: asked of the VFS and the table only. */
static bool fd_cannot_stall(FastPath *f, int fd) {
        int id = mounts_fd_mount_id(f->mounts, fd);

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
        int r;

        r = account_pend_fd(a, fd);
        if (r < 0)
                return r;
        if (a->n_pending_fds >= FASTPATH_DISPOSE_BATCH)
                connection_dispose_next(a);
        else if (!f->dispose_armed) {
                if (sd_event_source_set_time_relative(f->dispose_timer, FASTPATH_DISPOSE_DELAY_USEC) >= 0 &&
                    sd_event_source_set_enabled(f->dispose_timer, SD_EVENT_ONESHOT) >= 0)
                        f->dispose_armed = true;
                else
                        connection_dispose_next(a); /* no timer: at once, then */
        }
        return 0;
}

uint64_t fastpath_answered(const FastPath *f) {
        return f ? f->answered : 0;
}

Mounts *fastpath_mounts(FastPath *f) {
        return f ? f->mounts : NULL;
}
