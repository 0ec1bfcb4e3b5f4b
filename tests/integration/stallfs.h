/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * A tiny FUSE file system (raw /dev/fuse protocol, no libfuse) that stands
 * for a slow network file: it holds "data" (4096 bytes of 'f'), "stuck",
 * whose reads are never answered, "stuck-open", whose open is never
 * answered, "stuck-lookup", whose very name is never resolved, and
 * "stuck-flush", which reads like "data" but whose FLUSH (sent by every
 * close()) is never answered when safe-mmapd closes it, and "endless", which
 * says it has 4096 bytes but never ends (direct I/O, about 100 MB/s). It
 * lets a test prove that one file that never finishes reading does not
 * stall the daemon for anybody else.
 *
 * safe-mmapd refuses files on FUSE itself (a server answers whoever it
 * thinks reads), so the files are seen through a read-only overlayfs whose
 * lower layer is the FUSE mount: overlayfs reads them with the mounter's
 * credentials, the daemon sees an ordinary file system, and every read,
 * open, lookup and flush still reaches the server, as they would reach a
 * hung NFS server. The FUSE mount itself is at fuse_mountpoint.
 * Needs root (mount); the caller should be in a private mount namespace.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define STALLFS_DATA_SIZE 4096u

typedef struct StallFs {
        pid_t pid;              /* the server, or 0 */
        char *mountpoint;       /* the overlay */
        char *fuse_mountpoint;  /* MOUNTPOINT.fuse: the FUSE file system itself */
        char *empty_dir;        /* MOUNTPOINT.empty: the overlay's second lower layer */
        bool fuse_mounted;
} StallFs;

/* Mounts at @mountpoint (an existing directory) and starts the server; creates MOUNTPOINT.fuse and .empty. 0 or -errno. */
int stallfs_mount(StallFs *fs, const char *mountpoint);
/* Kills the server (every pending read then fails) and detaches both mounts. */
void stallfs_unmount(StallFs *fs);

/* Reads of "endless" the server answered since the mount. */
uint64_t stallfs_endless_reads(const StallFs *fs);
