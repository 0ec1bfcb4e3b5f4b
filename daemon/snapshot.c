/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "reap.h"
#include "memfd-util.h"
#include "resolve.h"
#include "snapshot.h"

/* Never the client's path: names are visible in /proc and longer than 249 bytes fail. */
#define SNAPSHOT_MEMFD_NAME "safe-mmap-snapshot"
#define PAGE_ROUND(x) (((x) + 4095u) & ~(uint64_t) 4095u)

static uint64_t bytes_live;

uint64_t snapshot_cost(uint64_t size) {
        if (size > UINT64_MAX - 4095u)
                return UINT64_MAX & ~(uint64_t) 4095u;
        return size ? PAGE_ROUND(size) : 4096u;
}

uint64_t snapshot_bytes_live(void) {
        return __atomic_load_n(&bytes_live, __ATOMIC_RELAXED);
}

static int snapshot_alloc(int fd, enum proto_kind kind, uint64_t size, Snapshot **ret) {
        Snapshot *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        s->n_ref = 1;
        s->fd = fd;
        s->kind = kind;
        s->size = size;
        s->cost = kind == PROTO_KIND_SEALED_MEMFD ? snapshot_cost(size) : 0;
        if (s->cost)
                __atomic_add_fetch(&bytes_live, s->cost, __ATOMIC_RELAXED);
        *ret = s;
        return 0;
}

static int statx_fd(int fd, struct statx *ret) {
        if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT,
                  FILE_VERSION_STATX_MASK, ret) < 0)
                return negative_errno();
        return 0;
}

static bool statx_unchanged(const struct statx *a, const struct statx *b) {
        FileVersion va, vb;

        file_version_from_statx(a, &va);
        file_version_from_statx(b, &vb);
        return file_version_equal(&va, &vb);
}

static int memfd_reset(int memfd) {
        if (ftruncate(memfd, 0) < 0 || lseek(memfd, 0, SEEK_SET) < 0)
                return negative_errno();
        return 0;
}

/* Whether a byte exists at @offset, read aside (never into the memfd, which would need a reservation). */
static int source_has_byte_at(int src, uint64_t offset) {
        char c;
        ssize_t n;

        do
                n = pread(src, &c, 1, (off_t) offset);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return negative_errno();
        return n > 0;
}

/*
 * Fills @memfd from @src with at most @limit + 1 bytes. st_size is only a
 * hint (procfs says 0, a FUSE server says what it likes): chunks follow it
 * while it holds, and past it a byte read aside tells whether the file goes
 * on before any memory is asked for. So a file exactly as large as it says
 * never reserves more than its size, and one that lies reserves as it grows.
 */
static int snapshot_fill(const Source *src, int memfd, uint64_t limit, snapshot_progress_fn progress,
                         void *userdata, uint64_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        uint64_t total = 0, hint = src->stx.stx_size;
        bool use_sendfile = true;
        int r;

        if (limit >= INT64_MAX)
                limit = INT64_MAX - 1;
        for (;;) {
                uint64_t want = SNAPSHOT_CHUNK;
                ssize_t n;

                if (total < hint) {
                        if (hint - total < want)
                                want = hint - total;
                } else {
                        r = source_has_byte_at(src->fd, total);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                break;
                }
                if (want > limit - total + 1)
                        want = limit - total + 1;
                r = progress(userdata, total + want);
                if (r < 0)
                        return r;

                if (use_sendfile) {
                        off_t offset = (off_t) total;

                        /* With an offset pointer, the source's file offset stays untouched. */
                        n = sendfile(memfd, src->fd, &offset, (size_t) want);
                        if (n < 0 && (errno == EINVAL || errno == ENOSYS) && total == 0) {
                                /* Some pseudo filesystems cannot splice. */
                                use_sendfile = false;
                                continue;
                        }
                } else {
                        if (!buf) {
                                buf = malloc(SNAPSHOT_CHUNK);
                                if (!buf)
                                        return -ENOMEM;
                        }
                        n = pread(src->fd, buf, (size_t) want, (off_t) total);
                        for (ssize_t done = 0; n > 0 && done < n;) {
                                ssize_t k = write(memfd, buf + done, (size_t) (n - done));

                                if (k < 0 && errno != EINTR)
                                        return negative_errno();
                                if (k > 0)
                                        done += k;
                        }
                }
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0) {
                        /* Splicing stops at the size the file claims; a direct read may not. */
                        if (total >= hint && use_sendfile) {
                                use_sendfile = false;
                                continue;
                        }
                        if (total >= hint)
                                break;
                        /* Shorter than it said: the hint is done with. */
                        hint = total;
                        continue;
                }
                total += (uint64_t) n;
                if (total > limit)
                        return -EFBIG;
        }
        *ret_size = total;
        return 0;
}

/*
 * A torn snapshot is a copy during which a writer changed the file. Two
 * witnesses: a read lease, which the kernel grants only while nobody has the
 * file open for writing and breaks as soon as somebody opens it for writing or
 * truncates it; and statx before and after. The statx pair alone proves
 * nothing (a write that started before the first statx already bumped mtime),
 * so only a lease held for the whole copy makes the snapshot "consistent".
 * Leases need the daemon to own the file or CAP_LEASE, and a writer that opens
 * the file meanwhile waits (lease-break-time) until the copy is over.
 */
int snapshot_new_copy(const Source *source, uint64_t limit, snapshot_progress_fn progress, void *userdata,
                      Snapshot **ret) {
        _cleanup_close_ int memfd = -EBADF, ro = -EBADF;
        struct statx before, after;
        bool consistent = false, borrowed = source->borrowed;
        int src = source->fd;
        uint64_t size = 0;
        Snapshot *s;
        int r;

        memfd = memfd_new_sealable(SNAPSHOT_MEMFD_NAME);
        if (memfd < 0)
                return memfd;

        for (unsigned attempt = 0; attempt < SNAPSHOT_COPY_ATTEMPTS; attempt++) {
                bool leased, unchanged, held = false;

                if (attempt > 0) {
                        r = memfd_reset(memfd);
                        if (r < 0)
                                return r;
                }

                /* Never a lease on the client's own description. */
                leased = !borrowed && fcntl(src, F_SETLEASE, F_RDLCK) >= 0;
                r = statx_fd(src, &before);
                if (r >= 0)
                        r = snapshot_fill(source, memfd, limit, progress, userdata, &size);
                if (r >= 0)
                        r = statx_fd(src, &after);
                if (leased) {
                        /* While a lease is being broken, F_GETLEASE reports the type it is broken to. */
                        held = fcntl(src, F_GETLEASE) == F_RDLCK;
                        (void) fcntl(src, F_SETLEASE, F_UNLCK);
                }
                if (r < 0)
                        return r;

                unchanged = statx_unchanged(&before, &after);
                /* A regular file nobody writes has exactly as many bytes as it says. */
                if (unchanged && after.stx_size != size)
                        break;
                if (unchanged && held) {
                        consistent = true;
                        break;
                }
                /* Without a lease there is nothing a retry could prove. */
                if (unchanged && !leased)
                        break;
                log_debug("Source changed during copy (attempt %u), retrying.", attempt + 1);
        }

        r = memfd_seal_immutable(memfd);
        if (r < 0)
                return r;
        r = resolve_reopen(memfd, &ro);
        if (r < 0)
                return r;

        r = snapshot_alloc(ro, PROTO_KIND_SEALED_MEMFD, size, &s);
        if (r < 0)
                return r;
        TAKE_FD(ro);
        s->consistent = consistent;
        file_version_from_statx(&after, &s->key);
        *ret = s;
        return 0;
}

int snapshot_new_verity(Source *src, Snapshot **ret) {
        Snapshot *s;
        int r;

        r = snapshot_alloc(src->fd, PROTO_KIND_FS_VERITY, src->stx.stx_size, &s);
        if (r < 0) {
                source_done(src);
                return r;
        }
        src->fd = -EBADF;
        /* fs-verity files cannot change at all: consistent by construction. */
        s->consistent = true;
        file_version_from_statx(&src->stx, &s->key);
        *ret = s;
        return 0;
}

Snapshot *snapshot_ref(Snapshot *s) {
        if (s)
                __atomic_add_fetch(&s->n_ref, 1, __ATOMIC_RELAXED);
        return s;
}

Snapshot *snapshot_unref(Snapshot *s) {
        if (!s || __atomic_sub_fetch(&s->n_ref, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        if (s->cost)
                __atomic_sub_fetch(&bytes_live, s->cost, __ATOMIC_RELAXED);
        /* Freeing a large memfd's pages takes time: a worker does it, off the request path. */
        if (s->kind != PROTO_KIND_SEALED_MEMFD || s->size < REAP_SIZE_MIN || reap_defer(s->fd) < 0)
                safe_close(s->fd);
        free(s);
        return NULL;
}

int snapshot_open_for_client(Snapshot *s, int *ret_fd) {
        int fd;

        if (s->kind == PROTO_KIND_SEALED_MEMFD)
                /* A fresh description: a shared one would share the file offset between clients. */
                return resolve_reopen(s->fd, ret_fd);

        /* An fs-verity snapshot is never shared: it was opened for this one request. */
        fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return negative_errno();
        *ret_fd = fd;
        return 0;
}

/*
 * The kernel grants a write lease only when the lease taker's own open is the
 * only one of the file: any client still holding the snapshot open, mapped,
 * or in flight in a socket queue makes it fail with EAGAIN. The daemon keeps
 * one O_RDONLY description per memfd, so the probe answers "does any client
 * still hold it" without the daemon ever learning who. The lease is dropped at
 * once; nobody can open the memfd by name meanwhile.
 */
int snapshot_probe_unused(Snapshot *s) {
        if (s->kind != PROTO_KIND_SEALED_MEMFD)
                return 1;
        if (fcntl(s->fd, F_SETLEASE, F_WRLCK) < 0)
                return errno == EAGAIN ? 0 : negative_errno();
        (void) fcntl(s->fd, F_SETLEASE, F_UNLCK);
        return 1;
}
