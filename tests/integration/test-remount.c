/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The daemon's cache key names the mount, not only the device: two ext4
 * images, each holding a file with the same inode number (mkfs -d numbers
 * files in the order it finds them), size and times (set with touch and
 * debugfs), mounted one after the other on the same loop device at the same
 * place, show the same st_dev, st_ino, st_size, st_mtime and st_ctime. The
 * second image's file must be served its own bytes, not the first one's from
 * the cache.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "raw-client.h"

#define TIMEOUT_MS 30000
/* Same length: only the bytes differ. */
#define CONTENT_A "first image's bytes\n"
#define CONTENT_B "other image's bytes\n"

static Harness h;

static void setup(void) {
        ck_assert_int_eq(harness_setup(&h), 0);
        /* The mounts stay in this test's own namespace. */
        ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
        ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
}

static void teardown(void) {
        ck_assert_int_eq(harness_finish(&h), 0);
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
        _cleanup_free_ char *cmd = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&cmd, fmt, ap);
        va_end(ap);
        ck_assert_int_ge(r, 0);
        r = system(cmd);
        if (r != 0)
                fprintf(stderr, "'%s' failed: %i\n", cmd, r);
        return r;
}

/* An ext4 image @name holding "f" with @content and fixed times. */
static char *make_image(const char *name, const char *content) {
        _cleanup_free_ char *tree = harness_path(&h, "tree"), *file = NULL;
        char *img = harness_path(&h, name);

        (void) mkdir(tree, 0755);
        ck_assert_int_ge(asprintf(&file, "%s/f", tree), 0);
        ck_assert_int_eq(harness_write_file(file, 0644, content, strlen(content)), 0);
        ck_assert_int_eq(run("touch -d '2020-01-01 00:00:00 UTC' '%s'", file), 0);
        ck_assert_int_eq(run("mkfs.ext4 -q -d '%s' '%s' 4M >/dev/null 2>&1", tree, img), 0);
        /* mkfs copies the tree's ctime, which is now: make both the same. */
        ck_assert_int_eq(run("debugfs -w -R 'sif /f ctime 20200101000000' '%s' >/dev/null 2>&1", img), 0);
        return img;
}

/* Asks the daemon for @path's file through our descriptor: it must hold @content. */
static void expect_served(const char *path, const char *content) {
        _cleanup_close_ int fd = -EBADF, snap = -EBADF;
        ProtoReply reply;
        char buf[64] = {};

        fd = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(raw_oneshot_fd(h.socket_path, fd, 0, &reply, &snap), 0);
        ck_assert_int_eq(reply.status, 0);
        ck_assert_int_eq(reply.size, strlen(content));
        ck_assert_int_eq(pread(snap, buf, sizeof(buf) - 1, 0), (ssize_t) strlen(content));
        ck_assert_msg(strcmp(buf, content) == 0, "served '%s' for a file holding '%s' (cached: %s)", buf, content,
                      reply.flags & PROTO_REPLY_CACHED ? "yes" : "no");
}

START_TEST(test_same_loop_device_other_image) {
        _cleanup_free_ char *a = make_image("a.img", CONTENT_A), *b = make_image("b.img", CONTENT_B);
        _cleanup_free_ char *mnt = harness_path(&h, "mnt"), *file = NULL;
        char dev[64] = {};
        struct stat st_a, st_b;
        FILE *f;

        ck_assert_int_eq(mkdir(mnt, 0755), 0);
        ck_assert_int_ge(asprintf(&file, "%s/f", mnt), 0);

        {
                _cleanup_free_ char *cmd = NULL;

                ck_assert_int_ge(asprintf(&cmd, "losetup -f --show '%s'", a), 0);
                f = popen(cmd, "r");
                ck_assert_ptr_nonnull(f);
                ck_assert_ptr_nonnull(fgets(dev, sizeof(dev), f));
                ck_assert_int_eq(pclose(f), 0);
                dev[strcspn(dev, "\n")] = 0;
        }

        ck_assert_int_eq(mount(dev, mnt, "ext4", MS_NOSUID | MS_NODEV, NULL), 0);
        ck_assert_int_eq(stat(file, &st_a), 0);
        expect_served(file, CONTENT_A);
        ck_assert_int_eq(umount(mnt), 0);
        ck_assert_int_eq(run("losetup -d '%s'", dev), 0);

        /* The same device again; another user of loop devices may have taken it meanwhile. */
        if (run("losetup '%s' '%s'", dev, b) != 0) {
                fprintf(stderr, "SKIP part: %s was taken by someone else between two images\n", dev);
                return;
        }
        ck_assert_int_eq(mount(dev, mnt, "ext4", MS_NOSUID | MS_NODEV, NULL), 0);
        ck_assert_int_eq(stat(file, &st_b), 0);
        /* What the old key was made of is all the same: only the mount tells them apart. */
        ck_assert_int_eq(st_a.st_dev, st_b.st_dev);
        ck_assert_int_eq(st_a.st_ino, st_b.st_ino);
        ck_assert_int_eq(st_a.st_size, st_b.st_size);
        ck_assert_int_eq(st_a.st_mtim.tv_sec, st_b.st_mtim.tv_sec);
        ck_assert_int_eq(st_a.st_mtim.tv_nsec, st_b.st_mtim.tv_nsec);
        ck_assert_int_eq(st_a.st_ctim.tv_sec, st_b.st_ctim.tv_sec);
        ck_assert_int_eq(st_a.st_ctim.tv_nsec, st_b.st_ctim.tv_nsec);
        expect_served(file, CONTENT_B);
        ck_assert_int_eq(umount(mnt), 0);
        ck_assert_int_eq(run("losetup -d '%s'", dev), 0);
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s;

        if (geteuid() != 0) {
                fprintf(stderr, "SKIP: needs root (mounts loop devices)\n");
                return 77;
        }
        if (!harness_have_program("losetup") || !harness_have_program("mkfs.ext4") ||
            !harness_have_program("debugfs")) {
                fprintf(stderr, "SKIP: needs losetup, mkfs.ext4 and debugfs\n");
                return 77;
        }
        if (system("losetup -f >/dev/null 2>&1") != 0) {
                fprintf(stderr, "SKIP: no free loop device can be had here\n");
                return 77;
        }
        s = harness_suite("remount", 120, setup, teardown, &tc);
        tcase_add_test(tc, test_same_loop_device_other_image);
        return harness_run_suite(s);
}
