/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * What a file system is, from fstatfs()'s f_type. Shared by the library
 * (which copies files on synthetic file systems itself, with the caller's
 * rights) and safe-mmapd (which refuses to read them with its own).
 */

#include <stdbool.h>
#include <sys/vfs.h>

/*
 * Whether files on @sfs are made up by their file system when they are read,
 * so that what a read() returns may depend on who reads (the reader's
 * credentials at read() time, its pid, its namespaces) or may never end:
 * procfs, sysfs, debugfs, tracefs, securityfs, cgroup v1 and v2, configfs,
 * bpffs, efivarfs, pstore, selinuxfs, smackfs, binfmt_misc, mqueue, and FUSE
 * (a server that sees the reader's uid and pid, and may answer each
 * differently or never).
 */
bool fs_is_synthetic(const struct statfs *sfs);

/* Whether @sfs is a file system where files can have fs-verity: ext4, f2fs, btrfs. */
bool fs_is_verity_capable(const struct statfs *sfs);
