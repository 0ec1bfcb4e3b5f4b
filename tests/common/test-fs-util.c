/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * fs_is_synthetic() and fs_is_verity_capable() on what the kernel says about
 * real mounts (/proc, /sys, a memfd, whatever else is mounted here), and the
 * one comparison idiom for f_type with magics that have their top bit set.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "fs-util.h"
#include "test-util.h"

/* fstatfs() of @path; 0, or -errno when it does not exist here. */
static int statfs_of(const char *path, struct statfs *ret) {
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), r = 0;

        if (fd < 0)
                return -errno;
        if (fstatfs(fd, ret) < 0)
                r = -errno;
        close(fd);
        return r;
}

START_TEST(test_proc_sys_synthetic) {
        struct statfs sfs;

        ck_assert_int_eq(statfs_of("/proc/self/stat", &sfs), 0);
        ck_assert(fs_is_synthetic(&sfs));
        ck_assert(!fs_is_verity_capable(&sfs));
        if (statfs_of("/sys/kernel/mm/transparent_hugepage/enabled", &sfs) == 0 ||
            statfs_of("/sys/power/state", &sfs) == 0) {
                ck_assert_int_eq((long) sfs.f_type, (long) SYSFS_MAGIC);
                ck_assert(fs_is_synthetic(&sfs));
        } else
                fprintf(stderr, "no sysfs file to look at: sysfs not checked\n");
}
END_TEST

/*
 * Whatever of these is mounted here, with the kernel's f_type for it, must
 * be synthetic; what is not mounted (or is something else) is said.
 */
START_TEST(test_mounted_synthetic) {
        static const struct {
                const char *path;
                unsigned long magic;
        } mounts[] = {
                { "/sys/fs/cgroup", CGROUP2_SUPER_MAGIC },
                { "/sys/fs/cgroup/systemd", CGROUP_SUPER_MAGIC },
                { "/sys/fs/cgroup/memory", CGROUP_SUPER_MAGIC },
                { "/sys/kernel/debug", DEBUGFS_MAGIC },
                { "/sys/kernel/tracing", TRACEFS_MAGIC },
                { "/sys/kernel/security", SECURITYFS_MAGIC },
                { "/sys/fs/bpf", BPF_FS_MAGIC },
                { "/sys/fs/pstore", PSTOREFS_MAGIC },
                { "/sys/firmware/efi/efivars", EFIVARFS_MAGIC },
                { "/sys/fs/selinux", SELINUX_MAGIC },
                { "/proc/sys/fs/binfmt_misc", BINFMTFS_MAGIC },
        };
        unsigned seen = 0;
        struct statfs sfs;

        for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
                if (statfs_of(mounts[i].path, &sfs) < 0 ||
                    sfs.f_type != (__typeof__(sfs.f_type)) mounts[i].magic) {
                        fprintf(stderr, "%s: not mounted here\n", mounts[i].path);
                        continue;
                }
                ck_assert_msg(fs_is_synthetic(&sfs), "%s (f_type %#lx) not synthetic", mounts[i].path,
                              (unsigned long) sfs.f_type);
                seen++;
        }
        fprintf(stderr, "%u synthetic mounts checked\n", seen);
}
END_TEST

START_TEST(test_memfd_not_synthetic) {
        struct statfs sfs;
        int fd = memfd_create("fs-util", MFD_CLOEXEC);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fstatfs(fd, &sfs), 0);
        ck_assert(!fs_is_synthetic(&sfs));
        ck_assert(!fs_is_verity_capable(&sfs));
        close(fd);
}
END_TEST

START_TEST(test_disk_file) {
        char t[] = "/var/tmp/fs-util.XXXXXX";
        struct statfs sfs;
        int fd = mkostemp(t, O_CLOEXEC);

        ck_assert_int_ge(fd, 0);
        (void) unlink(t);
        ck_assert_int_eq(fstatfs(fd, &sfs), 0);
        ck_assert(!fs_is_synthetic(&sfs));
        ck_assert_int_eq(fs_is_verity_capable(&sfs),
                         sfs.f_type == EXT4_SUPER_MAGIC || sfs.f_type == BTRFS_SUPER_MAGIC ||
                                 sfs.f_type == (__typeof__(sfs.f_type)) F2FS_SUPER_MAGIC);
        fprintf(stderr, "/var/tmp: f_type %#lx, verity capable: %d\n", (unsigned long) sfs.f_type,
                fs_is_verity_capable(&sfs));
        close(fd);
}
END_TEST

/*
 * Magics with the top bit set, as the kernel stores them in this
 * architecture's f_type: the idiom must find them (a comparison in int, or
 * against a sign-extended value, would not on 64-bit).
 */
START_TEST(test_top_bit_magics) {
        struct statfs sfs = {};

        sfs.f_type = (__typeof__(sfs.f_type)) BPF_FS_MAGIC;
        ck_assert(fs_is_synthetic(&sfs));
        sfs.f_type = (__typeof__(sfs.f_type)) SELINUX_MAGIC;
        ck_assert(fs_is_synthetic(&sfs));
        sfs.f_type = (__typeof__(sfs.f_type)) F2FS_SUPER_MAGIC;
        ck_assert(fs_is_verity_capable(&sfs));
        ck_assert(!fs_is_synthetic(&sfs));
        sfs.f_type = (__typeof__(sfs.f_type)) (int32_t) BPF_FS_MAGIC;
        if (sizeof(sfs.f_type) > 4)
                ck_assert(!fs_is_synthetic(&sfs));
        sfs.f_type = 0;
        ck_assert(!fs_is_synthetic(&sfs));
        ck_assert(!fs_is_verity_capable(&sfs));
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s = test_suite("fs-util", 0, NULL, NULL, &tc);

        tcase_add_test(tc, test_proc_sys_synthetic);
        tcase_add_test(tc, test_mounted_synthetic);
        tcase_add_test(tc, test_memfd_not_synthetic);
        tcase_add_test(tc, test_disk_file);
        tcase_add_test(tc, test_top_bit_magics);
        return suite_run(s, NULL);
}
