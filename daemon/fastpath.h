/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * Cache hits answered on the event loop, without a worker.
 *
 * Handing a request to a worker and back costs more than a cache hit
 * itself (two more wake-ups, a pipe, the futex of the pool's queue). But the
 * event loop must never run a call that a client's file can stall: statx(),
 * fstatfs() or a path look-up on FUSE, NFS or an overlay above them can
 * wait for ever. So the loop answers only where that cannot happen, and
 * decides that without calling into the file system:
 *
 *   descriptor  the mount id of the client's open file, from
 *               name_to_handle_at() without room for a
 *               handle (filled in by the VFS; see mounts_fd_mount_id());
 *   path        the mount of the grant root (the same way), then a look-up
 *               with RESOLVE_CACHED and RESOLVE_NO_XDEV: the file is on the
 *               root's mount, and the whole walk stays in RCU mode, which
 *               calls no file system method that may sleep (EAGAIN wherever
 *               it would have to leave it: a name not in the dentry cache, a
 *               symlink or an ACL not in memory, an automount point or any
 *               other managed dentry);
 *
 * and the mount table (mounts.h) says whether that mount cannot stall. Then
 * the same checks as on a worker run (resolve.c: resolve_fd_check(),
 * resolve_path_check()) and the cache is asked without waiting
 * (cache_lookup()). A hit is answered right away; anything else (a mount
 * that may stall or is not known, a look-up that would need the file
 * system, any error, a miss, a copy in progress, fs-verity, a size limit)
 * goes to the pool exactly as before, with the checks already made handed
 * over in the job so that they are not made twice.
 *
 * The client's descriptor is still never closed on the event loop: it waits
 * here, and a disposal job of its uid (holding one of the uid's disposal
 * slots, like any other close of what a client sent) closes a batch of
 * them, after at most FASTPATH_DISPOSE_DELAY_USEC or once
 * FASTPATH_DISPOSE_BATCH of the uid are waiting, so that a hit does not
 * cost a worker's wake-up each. The reply never waits for that close. A
 * uid whose closes are stuck keeps at most as many waiting as it may have
 * refused sockets waiting; beyond that, and beyond FASTPATH_PENDING_MAX for
 * all uids, a hit's descriptor is parked on its connection, which then reads
 * nothing more until it is closed, as for any other request.
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "account.h"
#include "job.h"
#include "mounts.h"
#include "pool.h"

/* How long a descriptor of a hit may wait to be closed, and how many wait before a disposal starts at once. */
#define FASTPATH_DISPOSE_DELAY_USEC (2u * 1000u)
#define FASTPATH_DISPOSE_BATCH 32u
/* Descriptors of all uids waiting so; beyond it (closes stuck), a hit's descriptor is parked on its connection. */
#define FASTPATH_PENDING_MAX 4096u

typedef struct FastPath FastPath;

/*
 * The mount table (read now, from /proc/self/mountinfo: before the sandbox)
 * and the disposal timer on @event. Without a mount table (no /proc) it
 * still succeeds: every request then goes to the pool.
 */
int fastpath_new(sd_event *event, Pool *pool, FastPath **ret);
FastPath *fastpath_free(FastPath *f);

/*
 * Tries to answer the new snapshot job @j on the event loop. Returns true
 * when it was a cache hit: j->snapshot, j->cached and j->result are set as a
 * worker would have set them, and the client's descriptor (if any) is moved
 * to *@ret_client_fd, for fastpath_dispose(). Returns false when @j is for
 * the pool; what was checked is kept in @j.
 */
bool fastpath_try(FastPath *f, Job *j, int *ret_client_fd);

/*
 * Leaves the client's descriptor @fd of a hit to be closed by a disposal of
 * @a. 0, or a negative errno when its list is full (the uid's closes are
 * stuck): then @fd is still the caller's, who parks it on the connection.
 */
int fastpath_dispose(FastPath *f, Account *a, int fd);

/*
 * Hands the waiting descriptors to disposals now rather than after the
 * delay (for tests that count the daemon's descriptors).
 */
void fastpath_flush(FastPath *f);

/* Hits answered on the event loop so far. */
uint64_t fastpath_answered(const FastPath *f);

/* The mount table, for tests. NULL when there is none. */
Mounts *fastpath_mounts(FastPath *f);
