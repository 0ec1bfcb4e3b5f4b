/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Who may read what, asked of a root daemon by a client running as nobody.
 * A file nobody opens itself is served through its own descriptor; a file it
 * cannot open is served only under a grant for its uid or one of its groups,
 * and never through a symlink or `..` that leads out of the granted tree.
 * Files that are not regular (FIFO, directory, device) are refused at once,
 * never waited on. Grant options (NoSymlinks, NoXDev, MaxSize elsewhere) hold;
 * mounts live in a private mount namespace of each test.
 */

#include <check.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "raw-client.h"
#include "run-as.h"
#include "safe-mmap.h"

#define REQUIRED_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
#define GRANT_GID ((gid_t) 4242)
#define OTHER_UID ((uid_t) 4243)
/* Refusals must come at once; a daemon that waits on a FIFO takes the full transport timeout. */
#define FAST_USEC (1000u * 1000u)

static Harness h;

static const char content[] = "granted bytes\n";

static char *P(const char *name) {
        return harness_path(&h, name);
}

static void make_file(const char *name, unsigned mode) {
        _cleanup_free_ char *p = P(name);

        ck_assert_int_eq(harness_write_file(p, mode, content, sizeof(content) - 1), 0);
}

static void make_dir(const char *name, unsigned mode) {
        _cleanup_free_ char *p = P(name);

        ck_assert_int_eq(mkdir(p, mode), 0);
        ck_assert_int_eq(chmod(p, mode), 0);
}

static void make_symlink(const char *target, const char *name) {
        _cleanup_free_ char *p = P(name);

        ck_assert_int_eq(symlink(target, p), 0);
}

static void write_grant(const char *name, const char *path_name, const char *extra) {
        _cleanup_free_ char *p = P(path_name), *text = NULL;

        ck_assert_int_ge(asprintf(&text, "[Grant]\nPath=%s\n%s", p, extra), 0);
        ck_assert_int_eq(harness_write_policy(&h, name, text), 0);
}

/* Mounts a tmpfs on NAME (a new directory) holding "file" with the granted bytes. */
static void make_mount(const char *name) {
        _cleanup_free_ char *p = P(name), *file = NULL;

        ck_assert_int_eq(mkdir(p, 0700), 0);
        ck_assert_int_eq(mount("itest", p, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700"), 0);
        ck_assert_int_ge(asprintf(&file, "%s/file", name), 0);
        make_file(file, 0600);
}

static void setup(void) {
        _cleanup_free_ char *secret = NULL, *fifo = NULL, *dev = NULL, *pubfifo = NULL;

        /* Mounts made here vanish with the test process. */
        ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
        ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        ck_assert_int_eq(harness_setup(&h), 0);

        make_file("public", 0644);
        make_file("secret", 0600);         /* root only, outside every grant */
        make_file("granted-file", 0600);   /* a single-file grant */

        make_dir("g", 0700);               /* a tree granted to nobody */
        make_file("g/data", 0600);
        make_dir("g/sub", 0700);
        make_file("g/sub/inner", 0600);
        secret = P("secret");
        make_symlink(secret, "g/abs");     /* absolute: escapes */
        make_symlink("../secret", "g/rel");/* relative: escapes */
        make_symlink("sub/../../secret", "g/rel2");
        make_symlink("/dev/null", "g/devnull");
        make_symlink("sub/inner", "g/inner-link"); /* stays beneath the root */
        fifo = P("g/fifo");
        ck_assert_int_eq(mkfifo(fifo, 0600), 0);
        dev = P("g/null");
        ck_assert_int_eq(mknod(dev, S_IFCHR | 0600, makedev(1, 3)), 0);

        make_mount("g/mnt");               /* another file system inside the tree */

        make_dir("xdev", 0700);            /* granted with NoXDev=yes */
        make_file("xdev/data", 0600);
        make_mount("xdev/mnt");

        make_dir("nosym", 0700);           /* granted with NoSymlinks=yes */
        make_file("nosym/data", 0600);
        make_symlink("data", "nosym/link");

        make_dir("grp", 0700);             /* granted to a group only */
        make_file("grp/data", 0600);

        make_dir("fg", 0700);              /* holds a single-file grant and its sibling */
        make_file("fg/granted", 0600);
        make_file("fg/sibling", 0600);

        make_dir("g-evil", 0700);          /* shares a prefix with "g", granted to nobody else */
        make_file("g-evil/data", 0600);

        make_dir("moved", 0700);           /* its root is swapped for a symlink once loaded */
        make_file("moved/data", 0600);

        make_dir("rootonly", 0700);        /* granted to root only */
        make_file("rootonly/data", 0600);

        make_dir("pub", 0755);             /* things nobody may open itself */
        pubfifo = P("pub/fifo");
        ck_assert_int_eq(mkfifo(pubfifo, 0666), 0);
        ck_assert_int_eq(chmod(pubfifo, 0666), 0);

        make_dir("hl", 0755);              /* granted to nobody; nobody may write in hl/drop */
        make_dir("hl/drop", 0755);
        {
                _cleanup_free_ char *drop = P("hl/drop"), *theirs = NULL, *a = NULL, *b = NULL;

                ck_assert_int_eq(chown(drop, NOBODY_UID, NOBODY_GID), 0);
                make_file("theirs", 0600); /* another user's: only they and root may read it */
                theirs = P("theirs");
                ck_assert_int_eq(chown(theirs, OTHER_UID, OTHER_UID), 0);
                make_file("hl/root-linked", 0644); /* root's, with a second link root made */
                a = P("hl/root-linked");
                b = P("hl/root-linked-too");
                ck_assert_int_eq(link(a, b), 0);
        }

        /* One grant per file: a policy file the daemon rejects takes down only its own test. */
        write_grant("10-file.conf", "granted-file", "Users=nobody\n");
        write_grant("20-tree.conf", "g", "Users=65534\n");
        write_grant("30-nosym.conf", "nosym", "Users=nobody\nNoSymlinks=yes\n");
        write_grant("35-xdev.conf", "xdev", "Users=nobody\nNoXDev=yes\n");
        write_grant("40-group.conf", "grp", "Groups=4242\n");
        write_grant("50-root.conf", "rootonly", "Users=0\n");
        write_grant("60-moved.conf", "moved", "Users=nobody\n");
        write_grant("65-fg.conf", "fg/granted", "Users=nobody\n");
        write_grant("70-links.conf", "hl", "Users=nobody\n");
        /* A file with one bad line is skipped whole: its valid grant for "secret" never applies. */
        write_grant("05-bad.conf", "secret", "Users=nobody\nMaxSize=lots\n");
        ck_assert_int_eq(harness_write_policy(&h, "06-bad.conf", "[Grant]\nPath=relative/path\nUsers=nobody\n"), 0);
        ck_assert_int_eq(harness_write_policy(&h, "07-bad.conf", "[Bogus]\nPath=/\nUsers=nobody\n"), 0);

        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
}

static void teardown(void) {
        ck_assert_int_eq(harness_finish(&h), 0);
}

static int run_as_nobody(run_as_fn fn, void *userdata) {
        return run_as(NOBODY_UID, NOBODY_GID, NULL, 0, 60, fn, userdata);
}

/* Checks a served snapshot: status 0, sealed, read-only, the granted bytes. */
static int check_served(const char *what, int r, const ProtoReply *reply, int fd) {
        char buf[sizeof(content)];

        if (r < 0 || reply->status != 0) {
                fprintf(stderr, "%s: expected a snapshot, got r=%d status=%d\n",
                        what, r, r < 0 ? 0 : reply->status);
                safe_close(fd);
                return -1;
        }
        CHILD_CHECK_INT(reply->kind, ==, PROTO_KIND_SEALED_MEMFD);
        CHILD_CHECK_INT(reply->size, ==, sizeof(content) - 1);
        CHILD_CHECK(fd >= 0);
        CHILD_CHECK_INT(fcntl(fd, F_GET_SEALS) & REQUIRED_SEALS, ==, REQUIRED_SEALS);
        CHILD_CHECK_INT(fcntl(fd, F_GETFL) & O_ACCMODE, ==, O_RDONLY);
        CHILD_CHECK_INT(pread(fd, buf, sizeof(buf), 0), ==, sizeof(content) - 1);
        CHILD_CHECK(memcmp(buf, content, sizeof(content) - 1) == 0);
        safe_close(fd);
        return 0;
}

static int path_request(const char *name, ProtoReply *ret_reply, int *ret_fd) {
        _cleanup_free_ char *p = P(name);

        return raw_oneshot_path(h.socket_path, p, 0, ret_reply, ret_fd);
}

/* A path request that must be refused with one of the listed errnos (0-terminated), fast. */
static int check_refused_path(const char *name, const int *allowed) {
        uint64_t t0 = harness_now_usec(), dt;
        ProtoReply reply;
        int fd = -EBADF, r;

        r = path_request(name, &reply, &fd);
        dt = harness_now_usec() - t0;
        safe_close(fd);
        if (r < 0) {
                fprintf(stderr, "%s: request failed: %s\n", name, strerror(-r));
                return -1;
        }
        for (const int *a = allowed; *a; a++)
                if (reply.status == -*a) {
                        if (dt >= FAST_USEC) {
                                fprintf(stderr, "%s: refused only after %llu us\n", name,
                                        (unsigned long long) dt);
                                return -1;
                        }
                        return 0;
                }
        fprintf(stderr, "%s: expected refusal, got status %d (%s)\n", name, reply.status,
                reply.status < 0 ? strerror(-reply.status) : "served");
        return -1;
}

static int do_public_by_fd(void *userdata) {
        _cleanup_free_ char *p = P("public");
        _cleanup_close_ int file = -EBADF;
        ProtoReply reply;
        int fd = -EBADF, r;
        safe_mmap *m = NULL;

        file = open(p, O_RDONLY | O_CLOEXEC);
        CHILD_CHECK(file >= 0);
        r = raw_oneshot_fd(h.socket_path, file, 0, &reply, &fd);
        CHILD_CHECK_INT(check_served("public by fd", r, &reply, fd), ==, 0);

        r = safe_mmap_snapshot(p, SAFE_MMAP_NO_FALLBACK, &m);
        CHILD_CHECK_INT(r, ==, 0);
        CHILD_CHECK_INT(safe_mmap_size(m), ==, sizeof(content) - 1);
        CHILD_CHECK(memcmp(safe_mmap_data(m), content, sizeof(content) - 1) == 0);
        safe_mmap_free(m);
        return 0;
}

START_TEST(test_nobody_own_file_by_fd) {
        ck_assert_int_eq(run_as_nobody(do_public_by_fd, NULL), 0);
}
END_TEST

static int do_secret_refused(void *userdata) {
        _cleanup_free_ char *p = P("secret");
        safe_mmap *m = NULL;
        int r;

        CHILD_CHECK(open(p, O_RDONLY | O_CLOEXEC) < 0 && errno == EACCES);
        CHILD_CHECK_INT(check_refused_path("secret", (const int[]) { EACCES, 0 }), ==, 0);
        r = safe_mmap_snapshot(p, SAFE_MMAP_NO_FALLBACK, &m);
        CHILD_CHECK_INT(r, ==, -EACCES);
        CHILD_CHECK(m == NULL);
        /* Without NO_FALLBACK there is nothing to fall back to: the caller cannot read it. */
        r = safe_mmap_snapshot(p, 0, &m);
        CHILD_CHECK_INT(r, ==, -EACCES);
        /* A grant to root is no grant to nobody. */
        CHILD_CHECK_INT(check_refused_path("rootonly/data", (const int[]) { EACCES, 0 }), ==, 0);
        /* Nor is a grant to a group nobody is not in. */
        CHILD_CHECK_INT(check_refused_path("grp/data", (const int[]) { EACCES, 0 }), ==, 0);
        return 0;
}

START_TEST(test_nobody_secret_refused) {
        ck_assert_int_eq(run_as_nobody(do_secret_refused, NULL), 0);
}
END_TEST

static int do_granted(void *userdata) {
        const char *const names[] = {
                "granted-file", "fg/granted", "g/data", "g/sub/inner", "g/inner-link", "nosym/data",
                "g/mnt/file", "xdev/data",
        };
        safe_mmap *m = NULL;

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                ProtoReply reply;
                int fd = -EBADF, r;

                r = path_request(names[i], &reply, &fd);
                CHILD_CHECK_INT(check_served(names[i], r, &reply, fd), ==, 0);
        }

        _cleanup_free_ char *p = P("granted-file");
        CHILD_CHECK_INT(safe_mmap_snapshot(p, SAFE_MMAP_NO_FALLBACK, &m), ==, 0);
        CHILD_CHECK_INT(safe_mmap_kind(m), ==, SAFE_MMAP_SEALED_MEMFD);
        CHILD_CHECK(memcmp(safe_mmap_data(m), content, sizeof(content) - 1) == 0);
        safe_mmap_free(m);
        return 0;
}

START_TEST(test_nobody_granted) {
        ck_assert_int_eq(run_as_nobody(do_granted, NULL), 0);
}
END_TEST

static int do_escapes(void *userdata) {
        const int escape[] = { EXDEV, ELOOP, EACCES, 0 };
        const char *const names[] = {
                "g/abs", "g/rel", "g/rel2", "g/devnull",
                "g/../secret", "g/sub/../../secret", "g/sub/../../g/../secret",
                "g/sub/../../rootonly/data",
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                CHILD_CHECK_INT(check_refused_path(names[i], escape), ==, 0);
        /* NoXDev=yes refuses a mount point inside the tree. */
        CHILD_CHECK_INT(check_refused_path("xdev/mnt/file", (const int[]) { EXDEV, 0 }), ==, 0);
        /* NoSymlinks=yes refuses even a link that stays inside. */
        CHILD_CHECK_INT(check_refused_path("nosym/link", (const int[]) { ELOOP, 0 }), ==, 0);
        return 0;
}

START_TEST(test_nobody_escapes_refused) {
        ck_assert_int_eq(run_as_nobody(do_escapes, NULL), 0);
}
END_TEST

static int do_special_paths(void *userdata) {
        CHILD_CHECK_INT(check_refused_path("g/fifo", (const int[]) { EINVAL, 0 }), ==, 0);
        CHILD_CHECK_INT(check_refused_path("g/sub", (const int[]) { EISDIR, 0 }), ==, 0);
        CHILD_CHECK_INT(check_refused_path("g", (const int[]) { EISDIR, 0 }), ==, 0);
        CHILD_CHECK_INT(check_refused_path("g/null", (const int[]) { EINVAL, 0 }), ==, 0);
        return 0;
}

START_TEST(test_nobody_special_paths_refused_fast) {
        ck_assert_int_eq(run_as_nobody(do_special_paths, NULL), 0);
}
END_TEST

static int check_refused_fd(const char *what, int file, int expected) {
        uint64_t t0 = harness_now_usec(), dt;
        ProtoReply reply;
        int fd = -EBADF, r;

        r = raw_oneshot_fd(h.socket_path, file, 0, &reply, &fd);
        dt = harness_now_usec() - t0;
        safe_close(fd);
        if (r < 0 || reply.status != -expected || dt >= FAST_USEC) {
                fprintf(stderr, "%s: expected %s within 1 s, got r=%d status=%d after %llu us\n",
                        what, strerror(expected), r, r < 0 ? 0 : reply.status, (unsigned long long) dt);
                return -1;
        }
        return 0;
}

static int do_special_fds(void *userdata) {
        _cleanup_free_ char *fifo = P("pub/fifo"), *dir = P("pub"), *pub = P("public");
        _cleanup_close_ int f = -EBADF, d = -EBADF, n = -EBADF, o = -EBADF, w = -EBADF;
        int pipefd[2], sv[2];

        f = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        CHILD_CHECK(f >= 0);
        CHILD_CHECK_INT(check_refused_fd("fifo", f, EINVAL), ==, 0);
        d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHILD_CHECK(d >= 0);
        CHILD_CHECK_INT(check_refused_fd("directory", d, EISDIR), ==, 0);
        n = open("/dev/null", O_RDONLY | O_CLOEXEC);
        CHILD_CHECK(n >= 0);
        CHILD_CHECK_INT(check_refused_fd("/dev/null", n, EINVAL), ==, 0);
        o = open(pub, O_PATH | O_CLOEXEC);
        CHILD_CHECK(o >= 0);
        CHILD_CHECK_INT(check_refused_fd("O_PATH", o, EBADF), ==, 0);
        w = open("/dev/null", O_WRONLY | O_CLOEXEC);
        CHILD_CHECK(w >= 0);
        CHILD_CHECK_INT(check_refused_fd("write-only", w, EBADF), ==, 0);

        /* A pipe's read end with a live writer that never writes: must not block. */
        CHILD_CHECK(pipe2(pipefd, O_CLOEXEC) == 0);
        CHILD_CHECK_INT(check_refused_fd("pipe", pipefd[0], EINVAL), ==, 0);
        safe_close(pipefd[0]);
        safe_close(pipefd[1]);
        CHILD_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        CHILD_CHECK_INT(check_refused_fd("socket", sv[0], EINVAL), ==, 0);
        safe_close(sv[0]);
        safe_close(sv[1]);
        return 0;
}

START_TEST(test_nobody_special_fds_refused_fast) {
        ck_assert_int_eq(run_as_nobody(do_special_fds, NULL), 0);
}
END_TEST

static int do_group(void *userdata) {
        ProtoReply reply;
        int fd = -EBADF, r;

        r = path_request("grp/data", &reply, &fd);
        CHILD_CHECK_INT(check_served("grp/data via group 4242", r, &reply, fd), ==, 0);
        /* The group opens that tree only. */
        CHILD_CHECK_INT(check_refused_path("secret", (const int[]) { EACCES, 0 }), ==, 0);
        return 0;
}

static int do_prefix(void *userdata) {
        const int refused[] = { EACCES, EXDEV, ELOOP, ENOTDIR, ENOENT, 0 };
        const char *const names[] = {
                "g-evil/data",              /* "g" is a prefix of "g-evil", not its parent */
                "g/../g-evil/data",
                "granted-file/",            /* a single-file grant covers nothing beneath it */
                "granted-file/..",
                "granted-file/../secret",
                "granted-file/../g-evil/data",
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                CHILD_CHECK_INT(check_refused_path(names[i], refused), ==, 0);
        return 0;
}

START_TEST(test_nobody_grant_prefix_is_not_a_parent) {
        ck_assert_int_eq(run_as_nobody(do_prefix, NULL), 0);
}
END_TEST

static int do_odd_spellings(void *userdata) {
        /* Spellings that stay inside: served or refused, but never anything but the granted bytes. */
        const char *const names[] = { "g//data", "g/./data", "g/sub/../data", "g/sub/./inner" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                ProtoReply reply;
                int fd = -EBADF, r;

                r = path_request(names[i], &reply, &fd);
                CHILD_CHECK_INT(r, ==, 0);
                if (reply.status == 0)
                        CHILD_CHECK_INT(check_served(names[i], r, &reply, fd), ==, 0);
                else
                        safe_close(fd);
        }
        return 0;
}

START_TEST(test_nobody_odd_spellings) {
        ck_assert_int_eq(run_as_nobody(do_odd_spellings, NULL), 0);
}
END_TEST

static int do_moved_root(void *userdata) {
        const char *shadow_path = userdata;
        ProtoReply reply;
        int fd = -EBADF, r;

        /* "moved" now points at /etc: the grant must not follow it there. */
        r = path_request(shadow_path, &reply, &fd);
        CHILD_CHECK_INT(r, ==, 0);
        if (reply.status == 0) {
                fprintf(stderr, "%s served through a grant root replaced by a symlink\n", shadow_path);
                safe_close(fd);
                return -1;
        }
        return 0;
}

START_TEST(test_nobody_grant_root_replaced) {
        _cleanup_free_ char *moved = P("moved"), *old = P("moved.old");

        ck_assert_int_eq(rename(moved, old), 0);
        ck_assert_int_eq(symlink("/etc", moved), 0);
        ck_assert_int_eq(run_as_nobody(do_moved_root, (void *) "moved/shadow"), 0);
        ck_assert_int_eq(run_as_nobody(do_moved_root, (void *) "moved/passwd"), 0);
}
END_TEST

static int do_secret_after_root(void *userdata) {
        /* Root's snapshot of the same file sits in the cache: it must not answer nobody's request. */
        CHILD_CHECK_INT(check_refused_path("secret", (const int[]) { EACCES, 0 }), ==, 0);
        return 0;
}

START_TEST(test_nobody_cache_is_not_a_grant) {
        _cleanup_free_ char *secret = P("secret");
        _cleanup_close_ int file = -EBADF, fd = -EBADF;
        ProtoReply reply;

        file = open(secret, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(file, 0);
        ck_assert_int_eq(raw_oneshot_fd(h.socket_path, file, 0, &reply, &fd), 0);
        ck_assert_int_eq(reply.status, 0);
        ck_assert_int_eq(run_as_nobody(do_secret_after_root, NULL), 0);
        /* Same with root's own path request (root has no grant for it either). */
        ck_assert_int_eq(run_as_nobody(do_secret_after_root, NULL), 0);
}
END_TEST

static int do_secret_granted(void *userdata) {
        uint64_t deadline = harness_now_usec() + 10u * 1000u * 1000u;
        _cleanup_free_ char *p = P("secret");
        safe_mmap *m = NULL;

        /* The reload is asynchronous: poll until the new grant is in force. */
        for (;;) {
                ProtoReply reply;
                int fd = -EBADF, r;

                r = path_request("secret", &reply, &fd);
                CHILD_CHECK_INT(r, ==, 0);
                if (reply.status == 0) {
                        CHILD_CHECK_INT(check_served("secret after reload", r, &reply, fd), ==, 0);
                        /* The library's fallback to a path request finds the grant too. */
                        CHILD_CHECK_INT(safe_mmap_snapshot(p, SAFE_MMAP_NO_FALLBACK, &m), ==, 0);
                        CHILD_CHECK(memcmp(safe_mmap_data(m), content, sizeof(content) - 1) == 0);
                        safe_mmap_free(m);
                        return 0;
                }
                CHILD_CHECK_INT(reply.status, ==, -EACCES);
                CHILD_CHECK(harness_now_usec() < deadline);
                usleep(50 * 1000);
        }
}

START_TEST(test_nobody_secret_granted_on_reload) {
        ck_assert_int_eq(run_as_nobody(do_secret_refused, NULL), 0);
        write_grant("70-secret.conf", "secret", "Users=nobody\n");
        ck_assert_int_eq(kill(h.pid, SIGHUP), 0);
        ck_assert_int_eq(run_as_nobody(do_secret_granted, NULL), 0);

        /* And taken away again. */
        _cleanup_free_ char *p = NULL;
        ck_assert_int_ge(asprintf(&p, "%s/70-secret.conf", h.policy_dir), 0);
        ck_assert_int_eq(unlink(p), 0);
        ck_assert_int_eq(kill(h.pid, SIGHUP), 0);
        usleep(500 * 1000);
        ck_assert_int_eq(run_as_nobody(do_secret_refused, NULL), 0);
}
END_TEST

static int flood_ready[2], flood_go[2];

static int do_flood(void *userdata) {
        int socks[24], served = 0;
        char c = 'r';

        for (size_t i = 0; i < ELEMENTSOF(socks); i++)
                CHILD_CHECK_INT(raw_connect(h.socket_path, &socks[i]), ==, 0);
        usleep(300 * 1000);
        for (size_t i = 0; i < ELEMENTSOF(socks); i++) {
                ProtoReply reply;
                if (raw_status(socks[i], 30000, &reply) == 0 && reply.status == 0)
                        served++;
        }
        /* Hold the connections while root checks that it is still served. */
        CHILD_CHECK_INT(write(flood_ready[1], &c, 1), ==, 1);
        CHILD_CHECK_INT(read(flood_go[0], &c, 1), ==, 0);
        for (size_t i = 0; i < ELEMENTSOF(socks); i++)
                safe_close(socks[i]);
        CHILD_CHECK_INT(served, ==, 4);
        return 0;
}

START_TEST(test_nobody_flood_leaves_others_served) {
        const char *const args[] = { "--max-connections-per-uid", "4", NULL };
        _cleanup_close_ int sock = -EBADF;
        ProtoReply reply;
        int status;
        char c;
        pid_t pid;

        ck_assert_int_eq(harness_stop(&h), 0);
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, args), 0);
        ck_assert_int_eq(pipe2(flood_ready, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(flood_go, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                safe_close(flood_ready[0]);
                safe_close(flood_go[1]);
                _exit(run_as_nobody(do_flood, NULL));
        }
        flood_ready[1] = safe_close(flood_ready[1]);
        flood_go[0] = safe_close(flood_go[0]);
        ck_assert_int_eq(read(flood_ready[0], &c, 1), 1);

        /* nobody holds its 4 connections (and was refused 20 more): root is still served. */
        ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
        ck_assert_int_eq(raw_status(sock, 30000, &reply), 0);
        ck_assert_int_eq(reply.status, 0);
        ck_assert_uint_eq(reply.connections, 5);

        flood_go[1] = safe_close(flood_go[1]);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        safe_close(flood_ready[0]);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

static int do_own_daemon(void *userdata) {
        _cleanup_free_ char *p = P("public");
        safe_mmap *m = NULL;

        /* A daemon of the caller's own uid is trusted. */
        CHILD_CHECK_INT(safe_mmap_snapshot(p, SAFE_MMAP_NO_FALLBACK, &m), ==, 0);
        CHILD_CHECK_INT(safe_mmap_kind(m), ==, SAFE_MMAP_SEALED_MEMFD);
        safe_mmap_free(m);
        return 0;
}

START_TEST(test_daemon_of_another_user_not_trusted) {
        _cleanup_free_ char *p = P("public");
        safe_mmap *m = NULL;
        int r;

        ck_assert_int_eq(harness_stop(&h), 0);
        h.daemon_uid = NOBODY_UID;
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);

        /* Whoever runs a socket at $SAFE_MMAP_SOCKET, root only trusts root (or itself). */
        ck_assert_int_eq(safe_mmap_snapshot(p, SAFE_MMAP_NO_FALLBACK, &m), -EPERM);
        ck_assert_ptr_null(m);
        r = safe_mmap_snapshot(p, 0, &m);
        ck_assert_msg(r == 0 || r == -EPERM, "%s", strerror(-r));
        if (r == 0) {
                ck_assert_int_eq(safe_mmap_kind(m), SAFE_MMAP_SEALED_MEMFD);
                safe_mmap_free(m);
        }
        ck_assert_int_eq(run_as_nobody(do_own_daemon, NULL), 0);
}
END_TEST

static int do_file_grant_symlink(void *userdata) {
        ProtoReply reply;
        int fd = -EBADF, r;

        r = path_request("fg/granted", &reply, &fd);
        CHILD_CHECK_INT(r, ==, 0);
        safe_close(fd);
        if (reply.status == 0) {
                fprintf(stderr, "fg/granted, now a symlink to its sibling, served the sibling\n");
                return -1;
        }
        return 0;
}

START_TEST(test_nobody_file_grant_is_one_file) {
        _cleanup_free_ char *granted = P("fg/granted");

        /* Served as it is... */
        ck_assert_int_eq(run_as_nobody(do_granted, NULL), 0);
        /*
         * ...but a grant of one file is a grant of that file: whoever may
         * write its directory must not turn it into every file beside it.
         */
        ck_assert_int_eq(unlink(granted), 0);
        ck_assert_int_eq(symlink("sibling", granted), 0);
        ck_assert_int_eq(run_as_nobody(do_file_grant_symlink, NULL), 0);
}
END_TEST

static int do_requests_during_reloads(void *userdata) {
        uint64_t end = harness_now_usec() + 2u * 1000u * 1000u;
        unsigned n = 0;

        while (harness_now_usec() < end) {
                ProtoReply reply;
                int fd = -EBADF, r;

                r = path_request("g/data", &reply, &fd);
                CHILD_CHECK_INT(r, ==, 0);
                if (reply.status != 0) {
                        fprintf(stderr, "request %u during reloads: %s\n", n, strerror(-reply.status));
                        safe_close(fd);
                        return -1;
                }
                safe_close(fd);
                n++;
        }
        fprintf(stderr, "%u path requests served during reloads\n", n);
        return 0;
}

START_TEST(test_reload_is_atomic) {
        pid_t hupper;
        int status;

        /* Reload every few milliseconds: a grant never disappears for a moment. */
        hupper = fork();
        ck_assert_int_ge(hupper, 0);
        if (hupper == 0) {
                for (;;) {
                        if (kill(h.pid, SIGHUP) < 0)
                                _exit(1);
                        usleep(5 * 1000);
                }
        }
        ck_assert_int_eq(run_as_nobody(do_requests_during_reloads, NULL), 0);
        ck_assert_int_eq(kill(hupper, SIGKILL), 0);
        ck_assert_int_eq(waitpid(hupper, &status, 0), hupper);
        ck_assert(WIFSIGNALED(status));
}
END_TEST

/*
 * Some kernel files decide what to show by the credentials of whoever
 * opened them: /proc/kallsyms shows addresses to root and zeros to nobody.
 * Handed nobody's descriptor, the daemon reads nothing of it (EOPNOTSUPP:
 * the library copies such files itself), never what root would see.
 */
static int do_kallsyms(void *userdata) {
        _cleanup_close_ int file = -EBADF, fd = -EBADF;
        char got[64] = {};
        ProtoReply reply;

        file = open("/proc/kallsyms", O_RDONLY | O_CLOEXEC);
        CHILD_CHECK(file >= 0);
        CHILD_CHECK_INT(raw_oneshot_fd(h.socket_path, file, 0, &reply, &fd), ==, 0);
        if (fd >= 0 && pread(fd, got, sizeof(got) - 1, 0) > 16 && strncmp(got, "0000000000000000 ", 17) != 0) {
                fprintf(stderr, "nobody's snapshot of /proc/kallsyms shows kernel addresses: %.40s\n", got);
                return -1;
        }
        CHILD_CHECK_INT(reply.status, ==, -EOPNOTSUPP);
        CHILD_CHECK_INT(fd, ==, -EBADF);
        return 0;
}

START_TEST(test_nobody_kernel_file_read_with_nobodys_rights) {
        char line[64] = {};
        _cleanup_close_ int file = open("/proc/kallsyms", O_RDONLY | O_CLOEXEC);

        if (file < 0 || pread(file, line, sizeof(line) - 1, 0) < 17 ||
            strncmp(line, "0000000000000000 ", 17) == 0) {
                fprintf(stderr, "SKIP part: root sees no kernel addresses here\n");
                return;
        }
        ck_assert_int_eq(run_as_nobody(do_kallsyms, NULL), 0);
}
END_TEST

/*
 * Where fs.protected_hardlinks is 0, anybody may link a file they cannot
 * read into a directory they may write. A path grant serves a file with more
 * than one link only when root or a uid the grant names owns it.
 */
static int do_plant_link(void *userdata) {
        _cleanup_free_ char *theirs = P("theirs"), *planted = P("hl/drop/planted");
        _cleanup_free_ char *mine = P("hl/drop/mine"), *mine_too = P("hl/drop/mine-too");

        CHILD_CHECK_INT(link(theirs, planted), ==, 0);
        CHILD_CHECK_INT(harness_write_file(mine, 0644, content, sizeof(content) - 1), ==, 0);
        CHILD_CHECK_INT(link(mine, mine_too), ==, 0);
        return 0;
}

static int do_request_links(void *userdata) {
        const char *const served[] = { "hl/root-linked", "hl/root-linked-too", "hl/drop/mine", "hl/drop/mine-too" };

        CHILD_CHECK_INT(check_refused_path("hl/drop/planted", (const int[]) { EPERM, 0 }), ==, 0);
        for (size_t i = 0; i < ELEMENTSOF(served); i++) {
                ProtoReply reply;
                int fd = -EBADF, r;

                r = path_request(served[i], &reply, &fd);
                CHILD_CHECK_INT(check_served(served[i], r, &reply, fd), ==, 0);
        }
        return 0;
}

START_TEST(test_nobody_planted_hard_link_refused) {
        _cleanup_close_ int knob = open("/proc/sys/fs/protected_hardlinks", O_RDWR | O_CLOEXEC);
        char saved[8] = {};
        int r;

        if (knob < 0 || pread(knob, saved, sizeof(saved) - 1, 0) <= 0 || pwrite(knob, "0\n", 2, 0) != 2) {
                fprintf(stderr, "SKIP part: fs.protected_hardlinks cannot be set here: %m\n");
                return;
        }
        /* It matters only when the link is made: restored at once. */
        r = run_as_nobody(do_plant_link, NULL);
        ck_assert_int_eq(pwrite(knob, saved, strlen(saved), 0), (ssize_t) strlen(saved));
        ck_assert_int_eq(r, 0);
        ck_assert_int_eq(run_as_nobody(do_request_links, NULL), 0);
}
END_TEST

START_TEST(test_group_grant) {
        const gid_t groups[] = { GRANT_GID };

        ck_assert_int_eq(run_as(NOBODY_UID, NOBODY_GID, groups, ELEMENTSOF(groups), 60, do_group, NULL), 0);
        /* The primary group counts as well, as it does for file permissions. */
        ck_assert_int_eq(run_as(NOBODY_UID, GRANT_GID, NULL, 0, 60, do_group, NULL), 0);
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s;

        if (geteuid() != 0) {
                fprintf(stderr, "SKIP: needs root (drops to nobody, creates a device node)\n");
                return 77;
        }

        s = harness_suite("access", 120, setup, teardown, &tc);
        tcase_add_test(tc, test_nobody_own_file_by_fd);
        tcase_add_test(tc, test_nobody_secret_refused);
        tcase_add_test(tc, test_nobody_granted);
        tcase_add_test(tc, test_nobody_escapes_refused);
        tcase_add_test(tc, test_nobody_special_paths_refused_fast);
        tcase_add_test(tc, test_nobody_special_fds_refused_fast);
        tcase_add_test(tc, test_group_grant);
        tcase_add_test(tc, test_nobody_grant_prefix_is_not_a_parent);
        tcase_add_test(tc, test_nobody_odd_spellings);
        tcase_add_test(tc, test_nobody_grant_root_replaced);
        tcase_add_test(tc, test_nobody_cache_is_not_a_grant);
        tcase_add_test(tc, test_nobody_secret_granted_on_reload);
        tcase_add_test(tc, test_nobody_flood_leaves_others_served);
        tcase_add_test(tc, test_daemon_of_another_user_not_trusted);
        tcase_add_test(tc, test_nobody_file_grant_is_one_file);
        tcase_add_test(tc, test_reload_is_atomic);
        tcase_add_test(tc, test_nobody_kernel_file_read_with_nobodys_rights);
        tcase_add_test(tc, test_nobody_planted_hard_link_refused);

        return harness_run_suite(s);
}
