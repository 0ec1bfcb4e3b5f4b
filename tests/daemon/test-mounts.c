/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The mount table of the event loop's fast path: mountinfo lines parsed
 * (real ones from this machine and hand-written ones with escapes and
 * optional fields), which file system types and block devices count as
 * unable to stall (against a sysfs tree made here, with a loop device, a
 * partition of one and device-mapper devices above each), the mount id of an
 * open file from name_to_handle_at(), and the table read again after a mount (in a user
 * and mount namespace of our own, where the kernel allows one without root).
 */

#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "daemon-test.h"
#include "mounts.h"

static char *read_mountinfo(void) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = fopen("/proc/self/mountinfo", "re");
        FILE *out = open_memstream(&text, &size);
        char buf[4096];
        size_t n;

        ck_assert_ptr_nonnull(f);
        ck_assert_ptr_nonnull(out);
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
        fclose(f);
        fclose(out);
        return text;
}

START_TEST(test_parse_real_lines) {
        _cleanup_free_ char *text = read_mountinfo();
        _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        unsigned lines = 0, parsed = 0;
        bool found_root = false;
        int root_id;

        /* The mount id of an open directory is the id of its mount in mountinfo. */
        ck_assert_int_ge(root, 0);
        {
                Mounts *m;

                ck_assert_int_eq(mounts_new(NULL, "/sys", &m), 0);
                root_id = mounts_fd_mount_id(root);
                ck_assert_int_ge(root_id, 0);
                mounts_free(m);
        }

        for (char *line = text, *end; line && *line; line = end ? end + 1 : NULL) {
                MountInfo mi;

                end = strchr(line, '\n');
                if (end)
                        *end = '\0';
                lines++;
                if (mounts_parse_line(line, &mi) < 0)
                        continue;
                parsed++;
                ck_assert_int_ge(mi.id, 0);
                ck_assert_ptr_nonnull(mi.fstype);
                ck_assert_ptr_nonnull(mi.source);
                ck_assert(mi.mount_point[0] == '/');
                /* The root of this namespace: the last mount on "/" is the one a look-up of "/" finds. */
                if (strcmp(mi.mount_point, "/") == 0 && mi.id == root_id)
                        found_root = true;
        }
        ck_assert_uint_gt(lines, 0);
        ck_assert_uint_eq(parsed, lines);
        ck_assert(found_root);
}
END_TEST

START_TEST(test_parse_written_lines) {
        char l1[] = "36 35 98:0 /mnt1 /mnt/with\\040space\\134and\\011tab rw,noatime master:1 shared:7 - ext3 "
                    "/dev/root rw,errors=continue";
        char l2[] = "120 27 0:52 / /run/user/1000/doc rw,nosuid,nodev,relatime - fuse.portal portal "
                    "rw,user_id=1000,group_id=1000";
        char l3[] = "7 1 0:5 / / rw - overlay over\\040lay rw,lowerdir=/a,upperdir=/b,workdir=/c";
        char bad1[] = "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 ext3 /dev/root rw";   /* no "-" */
        char bad2[] = "x 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root rw";
        char bad3[] = "36 35 98 /mnt1 /mnt2 rw - ext3 /dev/root rw";
        char bad4[] = "36 35 98:0 /mnt1 /mnt2 rw - ext3";
        char bad5[] = "";
        MountInfo mi;

        ck_assert_int_eq(mounts_parse_line(l1, &mi), 0);
        ck_assert_int_eq(mi.id, 36);
        ck_assert_uint_eq(mi.major, 98);
        ck_assert_uint_eq(mi.minor, 0);
        ck_assert_str_eq(mi.mount_point, "/mnt/with space\\and\ttab");
        ck_assert_str_eq(mi.fstype, "ext3");
        ck_assert_str_eq(mi.source, "/dev/root");

        ck_assert_int_eq(mounts_parse_line(l2, &mi), 0);
        ck_assert_int_eq(mi.id, 120);
        ck_assert_str_eq(mi.fstype, "fuse.portal");
        ck_assert_str_eq(mi.mount_point, "/run/user/1000/doc");

        ck_assert_int_eq(mounts_parse_line(l3, &mi), 0);
        ck_assert_str_eq(mi.source, "over lay");
        ck_assert_str_eq(mi.fstype, "overlay");

        ck_assert_int_eq(mounts_parse_line(bad1, &mi), -EINVAL);
        ck_assert_int_eq(mounts_parse_line(bad2, &mi), -EINVAL);
        ck_assert_int_eq(mounts_parse_line(bad3, &mi), -EINVAL);
        ck_assert_int_eq(mounts_parse_line(bad4, &mi), -EINVAL);
        ck_assert_int_eq(mounts_parse_line(bad5, &mi), -EINVAL);
}
END_TEST

START_TEST(test_fstypes_and_disks) {
        static const char *const stall[] = {
                "fuse", "fuseblk", "fuse.sshfs", "nfs", "nfs4", "cifs", "smb3", "9p", "ceph", "overlay",
                "afs", "virtiofs", "proc", "sysfs", "", "ext4.x", "tmpfs2",
        };
        static const char *const local[] = {
                "tmpfs", "ramfs", "ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "vfat", "exfat", "erofs",
                "squashfs", "iso9660",
        };

        for (size_t i = 0; i < ELEMENTSOF(stall); i++)
                ck_assert_msg(!mounts_fstype_cannot_stall(stall[i]), "%s", stall[i]);
        for (size_t i = 0; i < ELEMENTSOF(local); i++)
                ck_assert_msg(mounts_fstype_cannot_stall(local[i]), "%s", local[i]);
        ck_assert(mounts_fstype_in_memory("tmpfs"));
        ck_assert(!mounts_fstype_in_memory("ext4"));

        ck_assert(mounts_disk_name_local("vda"));
        ck_assert(mounts_disk_name_local("sda"));
        ck_assert(mounts_disk_name_local("nvme0n1"));
        ck_assert(mounts_disk_name_local("dm-0"));
        ck_assert(!mounts_disk_name_local("loop0"));
        ck_assert(!mounts_disk_name_local("loop12"));
        ck_assert(!mounts_disk_name_local("nbd3"));
        ck_assert(!mounts_disk_name_local("ublkb0"));
        ck_assert(!mounts_disk_name_local("rbd1"));
        ck_assert(!mounts_disk_name_local(""));
}
END_TEST

static void mkdirs(const char *root, const char *rel) {
        char path[PATH_MAX];

        ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s", root, rel), (int) sizeof(path));
        for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
                *p = '\0';
                ck_assert(mkdir(path, 0755) == 0 || errno == EEXIST);
                *p = '/';
        }
        ck_assert(mkdir(path, 0755) == 0 || errno == EEXIST);
}

static void link_at(const char *root, const char *rel, const char *target) {
        char path[PATH_MAX];

        ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s", root, rel), (int) sizeof(path));
        ck_assert_int_eq(symlink(target, path), 0);
}

static void touch_at(const char *root, const char *rel) {
        char path[PATH_MAX];

        ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s", root, rel), (int) sizeof(path));
        ck_assert_int_eq(write_file(path, 0644, "1\n", 2), 0);
}

/*
 * A sysfs as the kernel lays it out: devices under devices/, a partition in
 * its disk's directory with a "partition" file, class/block/NAME and
 * dev/block/MAJ:MIN links to them, "slaves" of device-mapper devices.
 */
static char *make_sysfs(void) {
        char *root = scratch_path("sys");
        static const char *const disks[] = { "vda", "loop0", "nbd0", "dm-0", "dm-1", "dm-2" };

        ck_assert_int_eq(mkdir(root, 0755), 0);
        mkdirs(root, "class/block");
        mkdirs(root, "dev/block");
        for (size_t i = 0; i < ELEMENTSOF(disks); i++) {
                char rel[PATH_MAX], target[PATH_MAX];

                snprintf(rel, sizeof(rel), "devices/virtual/block/%s", disks[i]);
                mkdirs(root, rel);
                snprintf(rel, sizeof(rel), "class/block/%s", disks[i]);
                snprintf(target, sizeof(target), "../../devices/virtual/block/%s", disks[i]);
                link_at(root, rel, target);
        }
        /* Partitions: vda1 of vda, loop0p1 of loop0 (extended devt 259, like NVMe partitions). */
        mkdirs(root, "devices/virtual/block/vda/vda1");
        touch_at(root, "devices/virtual/block/vda/vda1/partition");
        link_at(root, "class/block/vda1", "../../devices/virtual/block/vda/vda1");
        mkdirs(root, "devices/virtual/block/loop0/loop0p1");
        touch_at(root, "devices/virtual/block/loop0/loop0p1/partition");
        link_at(root, "class/block/loop0p1", "../../devices/virtual/block/loop0/loop0p1");
        /* dm-0 on vda1, dm-1 on loop0p1, dm-2 on dm-0 and dm-1. */
        mkdirs(root, "devices/virtual/block/dm-0/slaves");
        link_at(root, "devices/virtual/block/dm-0/slaves/vda1", "../../vda/vda1");
        mkdirs(root, "devices/virtual/block/dm-1/slaves");
        link_at(root, "devices/virtual/block/dm-1/slaves/loop0p1", "../../loop0/loop0p1");
        mkdirs(root, "devices/virtual/block/dm-2/slaves");
        link_at(root, "devices/virtual/block/dm-2/slaves/dm-0", "../../dm-0");
        link_at(root, "devices/virtual/block/dm-2/slaves/dm-1", "../../dm-1");

        link_at(root, "dev/block/254:0", "../../devices/virtual/block/vda");
        link_at(root, "dev/block/254:1", "../../devices/virtual/block/vda/vda1");
        link_at(root, "dev/block/7:0", "../../devices/virtual/block/loop0");
        link_at(root, "dev/block/259:0", "../../devices/virtual/block/loop0/loop0p1");
        link_at(root, "dev/block/43:0", "../../devices/virtual/block/nbd0");
        link_at(root, "dev/block/253:0", "../../devices/virtual/block/dm-0");
        link_at(root, "dev/block/253:1", "../../devices/virtual/block/dm-1");
        link_at(root, "dev/block/253:2", "../../devices/virtual/block/dm-2");
        return root;
}

START_TEST(test_block_devices) {
        _cleanup_free_ char *sys = make_sysfs();

        ck_assert(mounts_block_device_local(sys, 254, 0));
        ck_assert(mounts_block_device_local(sys, 254, 1));
        ck_assert(!mounts_block_device_local(sys, 7, 0));
        ck_assert(!mounts_block_device_local(sys, 259, 0));
        ck_assert(!mounts_block_device_local(sys, 43, 0));
        ck_assert(mounts_block_device_local(sys, 253, 0));
        ck_assert(!mounts_block_device_local(sys, 253, 1));
        ck_assert(!mounts_block_device_local(sys, 253, 2));
        /* Not in sysfs: cannot be told, so it may stall. */
        ck_assert(!mounts_block_device_local(sys, 8, 0));
}
END_TEST

START_TEST(test_parse_table) {
        _cleanup_free_ char *sys = make_sysfs();
        char text[] =
                "30 1 254:0 / / rw - ext4 /dev/vda rw\n"
                "31 30 0:40 / /tmp rw - tmpfs tmpfs rw\n"
                "32 30 7:0 / /mnt/loop rw - ext4 /dev/loop0 rw\n"
                "33 30 259:0 / /mnt/loop\\040p1 rw - ext4 /dev/loop0p1 rw\n"
                "34 30 253:0 / /srv rw shared:3 - xfs /dev/mapper/a rw\n"
                "35 30 253:1 / /srv/b rw - xfs /dev/mapper/b rw\n"
                "36 30 0:41 / /home/u/fuse rw - fuse.sshfs u@h: rw\n"
                "37 30 0:42 / /merged rw - overlay overlay rw,lowerdir=/a\n"
                "38 30 0:43 / /net rw - nfs4 h:/x rw\n"
                "39 30 0:44 / /pool rw - btrfs /nonexistent rw\n"
                "not a line\n"
                "20 1 43:0 / /nbd rw - ext4 /dev/nbd0 rw";
        static const struct { int id; bool cannot_stall; } want[] = {
                { 20, false }, { 30, true }, { 31, true }, { 32, false }, { 33, false }, { 34, true },
                { 35, false }, { 36, false }, { 37, false }, { 38, false }, { 39, false },
        };
        MountEntry *e;
        size_t n;

        ck_assert_int_eq(mounts_parse(text, sys, &e, &n), 0);
        ck_assert_uint_eq(n, ELEMENTSOF(want));
        for (size_t i = 0; i < n; i++) {
                ck_assert_int_eq(e[i].id, want[i].id);
                ck_assert_msg(e[i].cannot_stall == want[i].cannot_stall, "mount %i", e[i].id);
        }
        free(e);
}
END_TEST

/* The mount of an open file, decided on this machine: /proc may stall (it is not a disk), /dev/shm is tmpfs. */
START_TEST(test_real_mounts) {
        _cleanup_close_ int proc = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int shm = open("/dev/shm", O_PATH | O_DIRECTORY | O_CLOEXEC);
        struct statfs sfs;
        Mounts *m;
        int id;

        ck_assert_int_eq(mounts_new(NULL, "/sys", &m), 0);
        ck_assert_int_ge(proc, 0);
        id = mounts_fd_mount_id(proc);
        ck_assert_int_ge(id, 0);
        ck_assert(!mounts_cannot_stall(m, id));
        if (shm >= 0 && fstatfs(shm, &sfs) == 0 && sfs.f_type == 0x01021994 /* TMPFS_MAGIC */) {
                id = mounts_fd_mount_id(shm);
                ck_assert_int_ge(id, 0);
                ck_assert(mounts_cannot_stall(m, id));
        }
        /* Not a mount of this namespace. */
        ck_assert(!mounts_cannot_stall(m, 1 << 30));
        ck_assert_int_eq(mounts_fd_mount_id(12345), -EBADF);
        mounts_free(m);
}
END_TEST

/*
 * A mount made after the table was read is known at the next question: the
 * kernel's "changed" flag (POLLPRI) makes mounts_cannot_stall() read again.
 */
START_TEST(test_reread_after_mount) {
        _cleanup_free_ char *dir = scratch_path("mnt");
        _cleanup_close_ int fd = -EBADF;
        unsigned generation;
        Mounts *m;
        int id;

        ck_assert_int_eq(mkdir(dir, 0755), 0);
        /* A private mount namespace (with a user namespace, when not root): this test's process only. */
        if (unshare(geteuid() == 0 ? CLONE_NEWNS : CLONE_NEWUSER | CLONE_NEWNS) < 0) {
                fprintf(stderr, "SKIP part: no mount namespace of our own (%m)\n");
                return;
        }
        ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        ck_assert_int_eq(mounts_new(NULL, "/sys", &m), 0);
        generation = mounts_generation(m);
        ck_assert(!mounts_cannot_stall(m, 1 << 30));
        ck_assert_uint_eq(mounts_generation(m), generation);

        ck_assert_int_eq(mount("none", dir, "tmpfs", 0, "size=64k"), 0);
        fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        id = mounts_fd_mount_id(fd);
        ck_assert_int_ge(id, 0);
        ck_assert(mounts_cannot_stall(m, id));
        ck_assert_uint_eq(mounts_generation(m), generation + 1);
        /* Read once per change, not per question. */
        ck_assert(mounts_cannot_stall(m, id));
        ck_assert_uint_eq(mounts_generation(m), generation + 1);

        fd = safe_close(fd);
        ck_assert_int_eq(umount2(dir, MNT_DETACH), 0);
        ck_assert(!mounts_cannot_stall(m, id));
        ck_assert_uint_eq(mounts_generation(m), generation + 2);
        mounts_free(m);
}
END_TEST

int main(void) {
        const TTest *const tests[] = {
                test_parse_real_lines, test_parse_written_lines, test_fstypes_and_disks, test_block_devices,
                test_parse_table, test_real_mounts, test_reread_after_mount,
        };

        return run_tests("mounts", tests, ELEMENTSOF(tests));
}
