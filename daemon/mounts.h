/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * Which mounts of the daemon's mount namespace hold file systems that no
 * client can stall, so that a cache hit on one of their files may be
 * answered on the event loop (fastpath.c) without handing it to a worker.
 *
 * "Cannot stall" means: the file system is implemented in the kernel and
 * keeps its data in memory or on a local block device (tmpfs, ramfs, ext2/3/4,
 * xfs, btrfs, f2fs, vfat, exfat, erofs, squashfs, iso9660, udf), so that a
 * statx(), fstatfs() or path lookup of a file it holds waits at most for a
 * local disk, never for a process or a network. Never: FUSE (a process
 * answers, or never does), NFS, CIFS/SMB, 9p, Ceph, AFS (a network), overlay
 * (its layers may be any of these), and any type not named, which defaults to
 * "may stall".
 *
 * A block device counts as local unless its disk (the parent of a partition)
 * is backed by user space or the network: loop (a file, on any file system,
 * FUSE included), nbd and ublk (a process), rbd and drbd (the network); a
 * device-mapper or md device is local only when every device below it
 * (sysfs "slaves", recursively) is. Told from /sys/dev/block/MAJOR:MINOR; a
 * device that cannot be told (no sysfs, a btrfs without a /dev source) may
 * stall. Assumed local: disks the kernel presents as such (sd*, nvme*, vd*,
 * xvd*, mmcblk*, pmem*, zram*, ram*), whatever backs them below the kernel
 * (an iSCSI or a hypervisor's disk is the administrator's choice, not a
 * client's), and swap.
 *
 * The table is parsed from /proc/self/mountinfo at start-up and again when
 * the kernel says it changed (the descriptor polls EPOLLPRI). Mount ids are
 * reused at once (the lowest free one is handed out), so a stale table could
 * call a new FUSE mount by the id of an unmounted ext4. Two things close that
 * window: the file is watched at a higher priority than anything else on the
 * event loop, and mounts_cannot_stall() asks the kernel (poll(), no waiting)
 * whether the table changed since it was read, and reads it again first when
 * it did. The mount ids asked about come from descriptors the daemon holds
 * open (a client's, or a grant root): their mount cannot go away, nor its id
 * be reused, while they are open. A mount of another mount namespace (a
 * client's own, in a user namespace) is not in the table: it may stall.
 */

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

typedef struct MountEntry {
        int id;
        bool cannot_stall;
} MountEntry;

/* The fields of one mountinfo line the table needs; strings point into the (unescaped) line. */
typedef struct MountInfo {
        int id;
        unsigned major, minor;
        const char *mount_point;
        const char *fstype;     /* with its subtype, "fuse.sshfs" */
        const char *source;
} MountInfo;

typedef struct Mounts Mounts;

/*
 * Opens /proc/self/mountinfo (before the sandbox: the descriptor is kept),
 * reads it and watches it on @event. @sysfs is where sysfs is mounted
 * ("/sys"; another root for tests).
 */
int mounts_new(sd_event *event, const char *sysfs, Mounts **ret);
Mounts *mounts_free(Mounts *m);

/*
 * Whether the mount @mnt_id of the daemon's namespace holds a file system no
 * client can stall. Re-reads the table first when the kernel says it changed.
 * False for any id not known, and when the table cannot be read.
 */
bool mounts_cannot_stall(Mounts *m, int mnt_id);

/* How often the table was read (start-up included): for tests. */
unsigned mounts_generation(const Mounts *m);

/*
 * Parses one line of mountinfo in place (the escapes \040, \011, \012, \134
 * of paths are undone). 0, or -EINVAL for a line that does not parse.
 */
int mounts_parse_line(char *line, MountInfo *ret);

/* Whether the file system type @fstype (as in mountinfo) is one that cannot stall by itself. */
bool mounts_fstype_cannot_stall(const char *fstype);
/* Whether @fstype keeps its files in memory only (no block device to check). */
bool mounts_fstype_in_memory(const char *fstype);

/* Whether the kernel name of a disk (not a partition) names local storage: "vda" yes, "loop0" no. */
bool mounts_disk_name_local(const char *name);

/*
 * Whether the block device @major:@minor is local storage, told from
 * @sysfs/dev/block (partitions by their disk, device-mapper and md devices
 * by every device below them). False when it cannot be told.
 */
bool mounts_block_device_local(const char *sysfs, unsigned major, unsigned minor);

/*
 * Parses a whole mountinfo text (@text is changed) into a table sorted by
 * mount id, each entry decided as above. Lines that do not parse are
 * skipped (they may stall). Returns 0 or -ENOMEM.
 */
int mounts_parse(char *text, const char *sysfs, MountEntry **ret, size_t *ret_n);

/*
 * The mount id of the file open as @fd, from name_to_handle_at() without
 * room for a handle: the VFS answers, at a cost no client can raise.
 */
int mounts_fd_mount_id(int fd);
