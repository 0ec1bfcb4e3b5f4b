/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <linux/magic.h>
#include <stddef.h>

#include "fs-util.h"
#include "macro.h"

/* Not in every <linux/magic.h>. */
#ifndef CONFIGFS_MAGIC
#define CONFIGFS_MAGIC 0x62656570
#endif
#ifndef MQUEUE_MAGIC
#define MQUEUE_MAGIC 0x19800202
#endif
#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

/*
 * f_type is a signed word whose width differs between architectures, and
 * several magics (bpffs, selinuxfs, efivarfs, f2fs) have their top bit set:
 * the magic is converted to f_type's own type, never the other way round,
 * so that it compares equal however the kernel's unsigned value was stored.
 */
#define FS_TYPE_IS(sfs, magic) ((sfs)->f_type == (__typeof__((sfs)->f_type)) (magic))

/*
 * Why each one: procfs checks many permissions at read() time against the
 * reader (/proc/PID/stat's address fields, ptrace-gated files) and shows
 * per-reader views; sysfs, debugfs, tracefs, securityfs, selinuxfs and
 * smackfs have capability- or policy-gated attributes and files whose
 * reads have side effects; cgroupfs and configfs answer for the reader's
 * namespace; bpffs, efivarfs, pstore, binfmt_misc and mqueue files are
 * kernel objects whose contents are made up on each read; FUSE files are
 * whatever their server says to whoever it thinks is reading.
 */
static const unsigned long synthetic_magics[] = {
        PROC_SUPER_MAGIC,
        SYSFS_MAGIC,
        DEBUGFS_MAGIC,
        TRACEFS_MAGIC,
        SECURITYFS_MAGIC,
        CGROUP_SUPER_MAGIC,
        CGROUP2_SUPER_MAGIC,
        CONFIGFS_MAGIC,
        BPF_FS_MAGIC,
        EFIVARFS_MAGIC,
        PSTOREFS_MAGIC,
        SELINUX_MAGIC,
        SMACK_MAGIC,
        BINFMTFS_MAGIC,
        MQUEUE_MAGIC,
        FUSE_SUPER_MAGIC,
};

static const unsigned long verity_magics[] = {
        EXT4_SUPER_MAGIC,
        F2FS_SUPER_MAGIC,
        BTRFS_SUPER_MAGIC,
};

static bool fs_type_in(const struct statfs *sfs, const unsigned long *magics, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (FS_TYPE_IS(sfs, magics[i]))
                        return true;
        return false;
}

bool fs_is_synthetic(const struct statfs *sfs) {
        return fs_type_in(sfs, synthetic_magics, ELEMENTSOF(synthetic_magics));
}

bool fs_is_verity_capable(const struct statfs *sfs) {
        return fs_type_in(sfs, verity_magics, ELEMENTSOF(verity_magics));
}
