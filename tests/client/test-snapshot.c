/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * safe_mmap_snapshot() and safe_mmap_snapshot_fd() without a daemon: the
 * library makes the sealed memfd itself (SAFE_MMAP_NO_DAEMON, or when nothing
 * answers on $SAFE_MMAP_SOCKET), or reports the connect error with
 * SAFE_MMAP_NO_FALLBACK. No test here talks to a real daemon: main() points
 * $SAFE_MMAP_SOCKET at a path where nothing listens.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client-test.h"

/* Flags that must make a local snapshot here: explicitly, or by falling back. */
static const unsigned local_flags[] = { SAFE_MMAP_NO_DAEMON, 0, SAFE_MMAP_POPULATE,
                                        SAFE_MMAP_NO_DAEMON | SAFE_MMAP_POPULATE };
#define N_LOCAL_FLAGS ((int) (sizeof(local_flags) / sizeof(local_flags[0])))

static char *no_daemon_socket;

START_TEST(test_snapshot_path) {
        size_t size = 3 * page_size() + 11;
        void *data = pattern_new(size, 1);
        char *path = scratch_file(data, size, 0644);
        safe_mmap *m = expect_snapshot(path, local_flags[_i], 0);

        assert_snapshot(m, data, size);
        mapping_release(m);
        free(path);
        free(data);
}
END_TEST

START_TEST(test_snapshot_fd) {
        size_t size = (1u << 20) + 3 * page_size() + 5;
        void *data = pattern_new(size, 2);
        int fd = disk_file_new(data, size, O_RDONLY);
        safe_mmap *m = expect_snapshot_fd(fd, local_flags[_i], 0);

        assert_snapshot(m, data, size);
        mapping_release(m);

        /* An O_RDWR descriptor is fine too; the snapshot stays read-only. */
        close(fd);
        fd = disk_file_new(data, size, O_RDWR);
        m = expect_snapshot_fd(fd, local_flags[_i], 0);
        assert_snapshot(m, data, size);
        mapping_release(m);
        close(fd);
        free(data);
}
END_TEST

START_TEST(test_snapshot_is_a_copy) {
        size_t size = 4 * page_size();
        void *data = pattern_new(size, 3), *other = pattern_new(size, 4);
        char *path = scratch_file(data, size, 0644);
        int fd = open(path, O_RDWR | O_CLOEXEC);
        safe_mmap *by_path, *by_fd;

        ck_assert_int_ge(fd, 0);
        by_path = expect_snapshot(path, SAFE_MMAP_NO_DAEMON, 0);
        by_fd = expect_snapshot_fd(fd, SAFE_MMAP_NO_DAEMON, 0);

        /* Changed, then cut to nothing: the snapshots neither change nor SIGBUS. */
        ck_assert_int_eq(pwrite(fd, other, size, 0), (ssize_t) size);
        ck_assert_int_eq(fsync(fd), 0);
        assert_snapshot(by_path, data, size);
        assert_snapshot(by_fd, data, size);
        ck_assert_int_eq(ftruncate(fd, 0), 0);
        assert_snapshot(by_path, data, size);
        assert_snapshot(by_fd, data, size);
        ck_assert_int_eq(ftruncate(fd, (off_t) (2 * size)), 0);
        assert_snapshot(by_fd, data, size);

        mapping_release(by_fd);
        mapping_release(by_path);
        close(fd);
        free(path);
        free(other);
        free(data);
}
END_TEST

/*
 * Zero copy: a sealed memfd is mapped as it is, through a read-only
 * description of its own (the caller's is O_RDWR and has its own offset),
 * without a word to the daemon: NO_FALLBACK at a socket nobody listens on
 * would fail if it were asked.
 */
START_TEST(test_snapshot_of_sealed_memfd) {
        static const unsigned flags[] = { SAFE_MMAP_NO_DAEMON, SAFE_MMAP_NO_FALLBACK,
                                          SAFE_MMAP_NO_FALLBACK | SAFE_MMAP_REQUIRE_CONSISTENT | SAFE_MMAP_POPULATE };
        int fd = memfd_new(MFD_ALLOW_SEALING, "sealed", 6, SEALS_SNAPSHOT);
        struct stat a, b;

        for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
                safe_mmap *m = expect_snapshot_fd(fd, flags[i], 0);

                assert_snapshot(m, "sealed", 6);
                ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_AS_GIVEN | SAFE_MMAP_CONSISTENT);
                ck_assert_int_eq(fstat(fd, &a), 0);
                ck_assert_int_eq(fstat(safe_mmap_fd(m), &b), 0);
                ck_assert(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
                ck_assert_int_eq(lseek(fd, 3, SEEK_SET), 3);
                ck_assert_int_eq(lseek(safe_mmap_fd(m), 0, SEEK_CUR), 0);
                mapping_release(m);
        }
        close(fd);
}
END_TEST

/* Not immutable enough to be taken as given: copied as before. */
START_TEST(test_snapshot_of_unsealed_memfd) {
        static const unsigned seals[] = { 0, F_SEAL_WRITE, F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW,
                                          F_SEAL_WRITE | F_SEAL_SHRINK };

        for (size_t i = 0; i < sizeof(seals) / sizeof(seals[0]); i++) {
                int fd = memfd_new(MFD_ALLOW_SEALING, "loose", 5, seals[i]);
                struct stat a, b;
                safe_mmap *m = expect_snapshot_fd(fd, SAFE_MMAP_NO_DAEMON, 0);

                assert_snapshot(m, "loose", 5);
                ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_MADE_LOCALLY);
                ck_assert_int_eq(fstat(fd, &a), 0);
                ck_assert_int_eq(fstat(safe_mmap_fd(m), &b), 0);
                ck_assert(a.st_ino != b.st_ino);
                mapping_release(m);
                close(fd);
        }
}
END_TEST

/* What the flags say about a local snapshot, with and without a proof asked for. */
START_TEST(test_flags_local) {
        char *path = scratch_file("flags", 5, 0644);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        safe_mmap *m;

        ck_assert_int_ge(fd, 0);
        m = expect_snapshot(path, local_flags[_i], 0);
        assert_snapshot(m, "flags", 5);
        ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_MADE_LOCALLY);
        mapping_release(m);

        m = expect_snapshot(path, local_flags[_i] | SAFE_MMAP_REQUIRE_CONSISTENT, 0);
        assert_snapshot(m, "flags", 5);
        ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_MADE_LOCALLY | SAFE_MMAP_CONSISTENT);
        mapping_release(m);
        m = expect_snapshot_fd(fd, local_flags[_i] | SAFE_MMAP_REQUIRE_CONSISTENT, 0);
        assert_snapshot(m, "flags", 5);
        ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_MADE_LOCALLY | SAFE_MMAP_CONSISTENT);
        mapping_release(m);

        /* The lease is gone afterwards: a writer opens at once, even without waiting. */
        {
                int w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

                ck_assert_int_ge(w, 0);
                close(w);
        }
        close(fd);
        free(path);
}
END_TEST

/* Somebody has the file open for writing: no lease, nothing proven, -EAGAIN. */
START_TEST(test_require_consistent_writer) {
        char *path = scratch_file("written", 7, 0644);
        int w = open(path, O_WRONLY | O_CLOEXEC);
        safe_mmap *m;

        ck_assert_int_ge(w, 0);
        expect_snapshot(path, SAFE_MMAP_NO_DAEMON | SAFE_MMAP_REQUIRE_CONSISTENT, -EAGAIN);
        expect_snapshot(path, SAFE_MMAP_REQUIRE_CONSISTENT, -EAGAIN);
        /* Without the requirement, the same file is copied and said to be unproven. */
        m = expect_snapshot(path, SAFE_MMAP_NO_DAEMON, 0);
        ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_MADE_LOCALLY);
        mapping_release(m);
        close(w);
        free(path);
}
END_TEST

static int snapshot_consistent_as_nobody(void *arg) {
        safe_mmap *m = NULL;
        int r = safe_mmap_snapshot(arg, SAFE_MMAP_NO_DAEMON | SAFE_MMAP_REQUIRE_CONSISTENT, &m);

        if (r == 0 && !(safe_mmap_flags(m) & SAFE_MMAP_CONSISTENT))
                r = -EPROTO;
        safe_mmap_free(m);
        return r;
}

/* A lease needs the file's owner (or CAP_LEASE): a reader who is neither gets no proof. */
START_TEST(test_require_consistent_not_owner) {
        char *path = scratch_file("root's", 6, 0644);

        if (geteuid() != 0) {
                free(path);
                return; /* the caller owns every scratch file: nothing to show */
        }
        ck_assert_int_eq(run_as_nobody(snapshot_consistent_as_nobody, path), -EAGAIN);
        ck_assert_int_eq(chown(path, 65534, 65534), 0);
        ck_assert_int_eq(run_as_nobody(snapshot_consistent_as_nobody, path), 0);
        free(path);
}
END_TEST

/*
 * Writers keep opening the file while snapshots are made under a lease: the
 * lease is broken (never a proof), and the break does not kill this process
 * with the kernel's default SIGIO.
 */
START_TEST(test_require_consistent_lease_broken) {
        size_t size = 8u << 20;
        void *data = pattern_new(size, 12);
        char *path = scratch_file(data, size, 0644);
        int ok = 0, again = 0, status;
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                for (;;) {
                        int w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

                        if (w >= 0)
                                close(w);
                }
        }
        for (int i = 0; i < 20; i++) {
                safe_mmap *m = NULL;
                int r = safe_mmap_snapshot(path, SAFE_MMAP_NO_DAEMON | SAFE_MMAP_REQUIRE_CONSISTENT, &m);

                if (r == 0) {
                        ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_MADE_LOCALLY | SAFE_MMAP_CONSISTENT);
                        assert_bytes_eq(safe_mmap_data(m), data, size);
                        safe_mmap_free(m);
                        ok++;
                } else {
                        ck_assert_int_eq(r, -EAGAIN);
                        again++;
                }
        }
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(again > 0, "a writer opened the file all along, yet %d of 20 snapshots were proven", ok);
        free(path);
        free(data);
}
END_TEST

START_TEST(test_empty_file) {
        char *path = scratch_file(NULL, 0, 0644);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        safe_mmap *m;

        ck_assert_int_ge(fd, 0);
        m = expect_snapshot(path, local_flags[_i], 0);
        assert_snapshot(m, NULL, 0);
        mapping_release(m);
        m = expect_snapshot_fd(fd, local_flags[_i], 0);
        assert_snapshot(m, NULL, 0);
        mapping_release(m);
        close(fd);
        free(path);
}
END_TEST

START_TEST(test_procfs) {
        char want[64];
        const char *d;
        struct stat st;
        safe_mmap *m;
        int fd, n;

        /* procfs claims size 0: the copy must read to the end, not trust st_size. */
        ck_assert_int_eq(stat("/proc/self/status", &st), 0);
        ck_assert_int_eq(st.st_size, 0);
        m = expect_snapshot("/proc/self/status", local_flags[_i], 0);
        ck_assert_uint_gt(safe_mmap_size(m), 0);
        d = safe_mmap_data(m);
        ck_assert_mem_eq(d, "Name:", 5);
        n = snprintf(want, sizeof(want), "\nPid:\t%d\n", (int) getpid());
        ck_assert_ptr_nonnull(memmem(d, safe_mmap_size(m), want, (size_t) n));
        assert_snapshot(m, NULL, safe_mmap_size(m));
        mapping_release(m);

        fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        m = expect_snapshot_fd(fd, local_flags[_i], 0);
        ck_assert_mem_eq(safe_mmap_data(m), "Name:", 5);
        ck_assert_ptr_nonnull(memmem(safe_mmap_data(m), safe_mmap_size(m), want, (size_t) n));
        mapping_release(m);
        close(fd);
}
END_TEST

static void on_alarm(int sig) {
        (void) sig;
        static const char msg[] = "a snapshot of a FIFO blocked\n";
        (void) write(STDERR_FILENO, msg, sizeof(msg) - 1);
        _exit(3);
}

START_TEST(test_fifo) {
        char *path = scratch_path("fifo");
        int fd;

        ck_assert_int_eq(mkfifo(path, 0644), 0);
        /* Nobody will ever open the other end: any blocking open or read hangs here. */
        signal(SIGALRM, on_alarm);
        alarm(10);
        expect_snapshot(path, local_flags[_i], -EINVAL);
        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        expect_snapshot_fd(fd, local_flags[_i], -EINVAL);
        alarm(0);
        close(fd);
        free(path);
}
END_TEST

START_TEST(test_not_regular) {
        int p[2], s[2], null, dir;

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
        null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(null, 0);
        dir = open(scratch_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(dir, 0);

        expect_snapshot_fd(p[0], local_flags[_i], -EINVAL);
        expect_snapshot_fd(s[0], local_flags[_i], -EINVAL);
        expect_snapshot_fd(null, local_flags[_i], -EINVAL);
        expect_snapshot("/dev/null", local_flags[_i], -EINVAL);
        expect_snapshot("/dev/zero", local_flags[_i], -EINVAL);
        expect_snapshot_fd(dir, local_flags[_i], -EISDIR);
        expect_snapshot(scratch_dir(), local_flags[_i], -EISDIR);
        expect_snapshot("/", local_flags[_i], -EISDIR);

        close(dir);
        close(null);
        close(s[0]);
        close(s[1]);
        close(p[0]);
        close(p[1]);
}
END_TEST

START_TEST(test_missing) {
        char *path = scratch_path("missing"), *below, *long_name;
        char *file = scratch_file("x", 1, 0644);

        ck_assert_int_gt(asprintf(&below, "%s/below", file), 0);
        expect_snapshot(path, local_flags[_i], -ENOENT);
        expect_snapshot(below, local_flags[_i], -ENOTDIR);

        /* A symlink loop, a name longer than NAME_MAX, a path longer than PATH_MAX. */
        ck_assert_int_eq(symlink(path, path), 0);
        expect_snapshot(path, local_flags[_i], -ELOOP);
        ck_assert_int_eq(unlink(path), 0);
        long_name = malloc(PATH_MAX + 2);
        ck_assert_ptr_nonnull(long_name);
        memset(long_name, 'n', NAME_MAX + 1);
        long_name[NAME_MAX + 1] = '\0';
        expect_snapshot(long_name, local_flags[_i], -ENAMETOOLONG);
        for (size_t i = 0; i < PATH_MAX; i += 2)
                memcpy(long_name + i, "./", 2);
        long_name[PATH_MAX + 1] = '\0';
        long_name[PATH_MAX] = 'x';
        expect_snapshot(long_name, local_flags[_i], -ENAMETOOLONG);
        free(long_name);
        free(below);
        free(file);
        free(path);
}
END_TEST

struct denied {
        const char *path;
        unsigned flags;
};

/* Runs in a child without privileges: no Check assertions, the result goes back as a number. */
static int snapshot_denied(void *arg) {
        const struct denied *d = arg;
        safe_mmap *m = SENTINEL_MAP;
        int before = fd_count(), r;

        r = safe_mmap_snapshot(d->path, d->flags, &m);
        if (r == 0) {
                (void) safe_mmap_free(m);
                return 1000;
        }
        if (m != SENTINEL_MAP)
                return 1001;
        if (fd_count() != before)
                return 1002;
        return r;
}

START_TEST(test_unreadable) {
        /* Mode 0 denies both nobody and a non-root owner. */
        char *path = scratch_file("secret", 6, 0000);
        /* NO_DAEMON; and without it, the path request finds no daemon: still the open's error. */
        struct denied d = { path, _i == 0 ? SAFE_MMAP_NO_DAEMON : 0 };
        int r = run_as_nobody(snapshot_denied, &d);

        ck_assert_msg(r == -EACCES, "safe_mmap_snapshot() of an unreadable file as nobody = %d%s, expected -EACCES", r,
                      r == 1000 ? " (success)" : r == 1001 ? " (*ret written)" : r == 1002 ? " (fd leak)" : "");
        free(path);
}
END_TEST

START_TEST(test_offset_untouched) {
        size_t size = 3 * page_size();
        void *data = pattern_new(size, 5);
        int fd = disk_file_new(data, size, O_RDONLY);
        safe_mmap *m;

        /* The whole file is copied, from wherever the caller had read to. */
        ck_assert_int_eq(lseek(fd, 123, SEEK_SET), 123);
        m = expect_snapshot_fd(fd, local_flags[_i], 0);
        ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 123);
        assert_snapshot(m, data, size);
        mapping_release(m);

        ck_assert_int_eq(lseek(fd, 0, SEEK_END), (off_t) size);
        m = expect_snapshot_fd(fd, local_flags[_i], 0);
        ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), (off_t) size);
        assert_snapshot(m, data, size);
        mapping_release(m);
        close(fd);
        free(data);
}
END_TEST

/* SAFE_MMAP_SIZE_MAX takes the daemon's size syntax; a value that does not parse is an error. */
START_TEST(test_size_limit_syntax) {
        void *data = pattern_new(1025, 7);
        char *exact = scratch_file(data, 1024, 0644), *over = scratch_file(data, 1025, 0644);

        ck_assert_int_eq(setenv("SAFE_MMAP_SIZE_MAX", "1K", 1), 0);
        mapping_release(expect_snapshot(exact, local_flags[_i], 0));
        expect_snapshot(over, local_flags[_i], -EFBIG);
        ck_assert_int_eq(setenv("SAFE_MMAP_SIZE_MAX", "1k", 1), 0);
        expect_snapshot(over, local_flags[_i], -EFBIG);
        ck_assert_int_eq(setenv("SAFE_MMAP_SIZE_MAX", "1M", 1), 0);
        mapping_release(expect_snapshot(over, local_flags[_i], 0));
        for (const char *const *bad = (const char *const[]) { "bogus", "1X", "1KB", "-1", " 1", "1 ", "0x10",
                                                              "1.5M", "K", "18446744073709551616",
                                                              "16777216T", NULL }; *bad; bad++) {
                ck_assert_int_eq(setenv("SAFE_MMAP_SIZE_MAX", *bad, 1), 0);
                expect_snapshot(exact, local_flags[_i], -EINVAL);
        }
        ck_assert_int_eq(unsetenv("SAFE_MMAP_SIZE_MAX"), 0);
        free(over);
        free(exact);
        free(data);
}
END_TEST

START_TEST(test_size_limit) {
        void *data = pattern_new(4097, 6);
        char *exact = scratch_file(data, 4096, 0644), *over = scratch_file(data, 4097, 0644);
        char *sparse = scratch_file(NULL, 8u << 20, 0644);
        int fd = open(over, O_RDONLY | O_CLOEXEC);
        safe_mmap *m;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(setenv("SAFE_MMAP_SIZE_MAX", "4096", 1), 0);
        m = expect_snapshot(exact, local_flags[_i], 0);
        assert_snapshot(m, data, 4096);
        mapping_release(m);
        expect_snapshot(over, local_flags[_i], -EFBIG);
        expect_snapshot_fd(fd, local_flags[_i], -EFBIG);
        expect_snapshot(sparse, local_flags[_i], -EFBIG);
        /* The limit holds even where st_size says nothing. */
        ck_assert_int_eq(setenv("SAFE_MMAP_SIZE_MAX", "16", 1), 0);
        expect_snapshot("/proc/self/status", local_flags[_i], -EFBIG);
        ck_assert_int_eq(unsetenv("SAFE_MMAP_SIZE_MAX"), 0);

        close(fd);
        free(sparse);
        free(over);
        free(exact);
        free(data);
}
END_TEST

START_TEST(test_sparse) {
        size_t size = 8u << 20;
        unsigned char *want = calloc(1, size);
        char *path = scratch_file(NULL, size, 0644);
        const size_t at[] = { 0, 4095, 4096, (4u << 20) + 17, size - 1 };
        int fd = open(path, O_RDWR | O_CLOEXEC);
        struct stat st;
        safe_mmap *m;

        ck_assert_ptr_nonnull(want);
        ck_assert_int_ge(fd, 0);
        for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
                want[at[i]] = (unsigned char) (0xa0 + i);
                ck_assert_int_eq(pwrite(fd, want + at[i], 1, (off_t) at[i]), 1);
        }
        ck_assert_int_eq(fstat(fd, &st), 0);
        /* Really sparse: far fewer blocks than bytes. */
        ck_assert_int_lt(st.st_blocks * 512, (off_t) size / 2);

        m = expect_snapshot(path, local_flags[_i], 0);
        assert_snapshot(m, want, size);
        mapping_release(m);
        m = expect_snapshot_fd(fd, local_flags[_i], 0);
        assert_snapshot(m, want, size);
        mapping_release(m);

        close(fd);
        free(path);
        free(want);
}
END_TEST

/* A socket file whose owner is gone: connect() gives ECONNREFUSED. */
static char *dead_socket_new(void) {
        char *path = scratch_path("sock");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        close(fd);
        return path;
}

START_TEST(test_no_daemon_fallback) {
        char *path = scratch_file("fallback", 8, 0644), *dead = dead_socket_new();
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        safe_mmap *m;

        ck_assert_int_ge(fd, 0);

        /* Nothing at the socket path. */
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", no_daemon_socket, 1), 0);
        m = expect_snapshot(path, 0, 0);
        assert_snapshot(m, "fallback", 8);
        mapping_release(m);
        m = expect_snapshot_fd(fd, 0, 0);
        assert_snapshot(m, "fallback", 8);
        mapping_release(m);
        /* No daemon is one outcome, never -ENOENT, which would blame the file. */
        expect_snapshot(path, SAFE_MMAP_NO_FALLBACK, -ECONNREFUSED);
        expect_snapshot_fd(fd, SAFE_MMAP_NO_FALLBACK, -ECONNREFUSED);
        expect_snapshot_fd(fd, SAFE_MMAP_NO_FALLBACK | SAFE_MMAP_POPULATE, -ECONNREFUSED);

        /* A socket nobody listens on. */
        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", dead, 1), 0);
        m = expect_snapshot(path, 0, 0);
        assert_snapshot(m, "fallback", 8);
        mapping_release(m);
        m = expect_snapshot_fd(fd, 0, 0);
        assert_snapshot(m, "fallback", 8);
        mapping_release(m);
        expect_snapshot(path, SAFE_MMAP_NO_FALLBACK, -ECONNREFUSED);
        expect_snapshot_fd(fd, SAFE_MMAP_NO_FALLBACK, -ECONNREFUSED);

        /* NO_DAEMON never looks at the socket. */
        m = expect_snapshot_fd(fd, SAFE_MMAP_NO_DAEMON, 0);
        assert_snapshot(m, "fallback", 8);
        mapping_release(m);

        ck_assert_int_eq(setenv("SAFE_MMAP_SOCKET", no_daemon_socket, 1), 0);
        close(fd);
        free(dead);
        free(path);
}
END_TEST

START_TEST(test_bad_args) {
        char *path = scratch_file("abc", 3, 0644);
        int fd = open(path, O_RDONLY | O_CLOEXEC), before;
        int opath = open(path, O_PATH | O_CLOEXEC), wronly = open(path, O_WRONLY | O_CLOEXEC);
        int closed = open(path, O_RDONLY | O_CLOEXEC);

        ck_assert(fd >= 0 && opath >= 0 && wronly >= 0 && closed >= 0);
        close(closed);

        before = fd_count();
        ck_assert_int_eq(safe_mmap_snapshot(path, SAFE_MMAP_NO_DAEMON, NULL), -EINVAL);
        ck_assert_int_eq(safe_mmap_snapshot_fd(fd, SAFE_MMAP_NO_DAEMON, NULL), -EINVAL);
        ck_assert_int_eq(fd_count(), before);
        expect_snapshot(NULL, SAFE_MMAP_NO_DAEMON, -EINVAL);
        expect_snapshot("", SAFE_MMAP_NO_DAEMON, -EINVAL);
        expect_snapshot(path, SAFE_MMAP_NO_DAEMON | SAFE_MMAP_NO_FALLBACK, -EINVAL);
        expect_snapshot_fd(fd, SAFE_MMAP_NO_DAEMON | SAFE_MMAP_NO_FALLBACK, -EINVAL);
        expect_snapshot(path, 1u << 4, -EINVAL);
        expect_snapshot(path, SAFE_MMAP_MADE_LOCALLY, -EINVAL);
        expect_snapshot(path, ~0u, -EINVAL);
        expect_snapshot_fd(fd, 1u << 31, -EINVAL);

        expect_snapshot_fd(opath, SAFE_MMAP_NO_DAEMON, -EBADF);
        expect_snapshot_fd(wronly, SAFE_MMAP_NO_DAEMON, -EBADF);
        expect_snapshot_fd(closed, SAFE_MMAP_NO_DAEMON, -EBADF);
        expect_snapshot_fd(-1, SAFE_MMAP_NO_DAEMON, -EBADF);
        expect_snapshot_fd(opath, 0, -EBADF);
        expect_snapshot_fd(-1, 0, -EBADF);

        close(wronly);
        close(opath);
        close(fd);
        free(path);
}
END_TEST

START_TEST(test_size_limit_zero) {
        char *empty = scratch_file(NULL, 0, 0644), *one = scratch_file("x", 1, 0644);
        safe_mmap *m;

        ck_assert_int_eq(setenv("SAFE_MMAP_SIZE_MAX", "0", 1), 0);
        m = expect_snapshot(empty, SAFE_MMAP_NO_DAEMON, 0);
        ck_assert_uint_eq(safe_mmap_size(m), 0);
        mapping_release(m);
        expect_snapshot(one, SAFE_MMAP_NO_DAEMON, -EFBIG);
        ck_assert_int_eq(unsetenv("SAFE_MMAP_SIZE_MAX"), 0);
        free(one);
        free(empty);
}
END_TEST

START_TEST(test_emfile) {
        char *path = scratch_file("limits", 6, 0644);
        int src = open(path, O_RDONLY | O_CLOEXEC), before, r;
        safe_mmap *m = SENTINEL_MAP;

        ck_assert_int_ge(src, 0);
        fds_exhaust();

        /* Not one slot: a clean -EMFILE, whether from the open, the socket or the memfd. */
        expect_snapshot(path, SAFE_MMAP_NO_DAEMON, -EMFILE);
        expect_snapshot_fd(src, SAFE_MMAP_NO_DAEMON, -EMFILE);
        expect_snapshot_fd(src, 0, -EMFILE);
        expect_snapshot(path, 0, -EMFILE);
        /* The lease's own description does not fit either: out of descriptors, not "not proven". */
        expect_snapshot_fd(src, SAFE_MMAP_NO_DAEMON | SAFE_MMAP_REQUIRE_CONSISTENT, -EMFILE);

        /* One slot: the memfd fits, its read-only reopening does not. The writable
         * descriptor must not be handed out instead. */
        fds_release(1);
        before = fd_count();
        r = safe_mmap_snapshot_fd(src, SAFE_MMAP_NO_DAEMON, &m);
        if (r == 0) {
                int fl = fcntl(safe_mmap_fd(m), F_GETFL);

                ck_assert_ptr_null(safe_mmap_free(m));
                ck_assert_msg((fl & O_ACCMODE) == O_RDONLY,
                              "with one descriptor slot left, the snapshot came back with F_GETFL %#x", (unsigned) fl);
        } else {
                ck_assert_int_eq(r, -EMFILE);
                ck_assert_ptr_eq(m, SENTINEL_MAP);
        }
        ck_assert_int_eq(fd_count(), before);

        /* Two slots are enough: the memfd, then its read-only reopening. */
        fds_release(1);
        m = expect_snapshot_fd(src, SAFE_MMAP_NO_DAEMON, 0);
        assert_snapshot(m, "limits", 6);
        mapping_release(m);

        fds_restore();
        close(src);
        free(path);
}
END_TEST

/* Rewrites the first byte as fast as it can, counting in *@count. */
static _Noreturn void writer_run(int fd, volatile uint64_t *count) {
        for (unsigned char b = 0;; b++) {
                if (pwrite(fd, &b, 1, 0) != 1)
                        _exit(1);
                (*count)++;
        }
}

START_TEST(test_torn) {
        size_t size = 32u << 20;
        void *data = pattern_new(size, 8);
        char *path = scratch_file(data, size, 0644);
        int fd = open(path, O_RDWR | O_CLOEXEC), status, eagain = 0;
        volatile uint64_t *count;
        pid_t pid;

        ck_assert_int_ge(fd, 0);
        count = mmap(NULL, sizeof(*count), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ck_assert(count != MAP_FAILED);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                /* Never outlive a failed test, rewriting a file for ever. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                        _exit(1);
                writer_run(fd, count);
        }
        while (*count < 1000)
                usleep(1000);

        /* A writer that never stops tears every copy: -EAGAIN, never a torn snapshot. A
         * snapshot that does get through (the writer starved of CPU during a whole copy)
         * may differ from the file only in the byte being rewritten. */
        for (int i = 0; i < 5 && eagain == 0; i++) {
                safe_mmap *m = SENTINEL_MAP;
                int before = fd_count(), r = safe_mmap_snapshot_fd(fd, SAFE_MMAP_NO_DAEMON, &m);

                if (r == 0) {
                        ck_assert_uint_eq(safe_mmap_size(m), size);
                        assert_bytes_eq((const char *) safe_mmap_data(m) + 1, (const char *) data + 1, size - 1);
                        ck_assert_ptr_null(safe_mmap_free(m));
                } else {
                        ck_assert_int_eq(r, -EAGAIN);
                        ck_assert_ptr_eq(m, SENTINEL_MAP);
                        eagain++;
                }
                ck_assert_int_eq(fd_count(), before);
        }
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(eagain > 0, "5 snapshots of a file rewritten all along never reported -EAGAIN");

        (void) munmap((void *) count, sizeof(*count));
        close(fd);
        free(path);
        free(data);
}
END_TEST

/* What a stable pseudo file holds, read here with read(). */
static size_t pseudo_read(const char *path, char *buf, size_t size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t n = 0;

        ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
        for (;;) {
                ssize_t k = read(fd, buf + n, size - n);

                ck_assert_int_ge(k, 0);
                if (k == 0)
                        break;
                n += (size_t) k;
                ck_assert_uint_lt(n, size);
        }
        close(fd);
        return n;
}

/*
 * st_size 0, content of a known length: /proc/version can be spliced (sendfile)
 * while /proc/self/cmdline cannot (read only); each takes its own copy path.
 * The limit holds exactly at the content's length on both.
 */
START_TEST(test_pseudo_files) {
        static const char *const paths[] = { "/proc/version", "/proc/self/cmdline" };
        const char *path = paths[_i];
        char want[8192], limit[32];
        size_t n = pseudo_read(path, want, sizeof(want));
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        safe_mmap *m;

        ck_assert_int_ge(fd, 0);
        ck_assert_uint_gt(n, 1);
        m = expect_snapshot(path, SAFE_MMAP_NO_DAEMON, 0);
        assert_snapshot(m, want, n);
        mapping_release(m);

        ck_assert_int_eq(lseek(fd, 1, SEEK_SET), 1);
        m = expect_snapshot_fd(fd, SAFE_MMAP_NO_DAEMON, 0);
        ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 1);
        assert_snapshot(m, want, n);
        mapping_release(m);

        snprintf(limit, sizeof(limit), "%zu", n);
        ck_assert_int_eq(setenv("SAFE_MMAP_SIZE_MAX", limit, 1), 0);
        m = expect_snapshot(path, SAFE_MMAP_NO_DAEMON, 0);
        assert_snapshot(m, want, n);
        mapping_release(m);
        snprintf(limit, sizeof(limit), "%zu", n - 1);
        ck_assert_int_eq(setenv("SAFE_MMAP_SIZE_MAX", limit, 1), 0);
        expect_snapshot(path, SAFE_MMAP_NO_DAEMON, -EFBIG);
        expect_snapshot_fd(fd, SAFE_MMAP_NO_DAEMON, -EFBIG);
        ck_assert_int_eq(unsetenv("SAFE_MMAP_SIZE_MAX"), 0);
        close(fd);
}
END_TEST

START_TEST(test_names) {
        size_t size = page_size() + 1;
        void *data = pattern_new(size, 13);
        char *path = scratch_file(data, size, 0644), *link = scratch_path("link");
        int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        safe_mmap *m;

        /* Symlinks are followed, and names are relative to the working directory. */
        ck_assert_int_ge(cwd, 0);
        ck_assert_int_eq(symlink(path, link), 0);
        m = expect_snapshot(link, local_flags[_i], 0);
        assert_snapshot(m, data, size);
        mapping_release(m);

        ck_assert_int_eq(chdir(scratch_dir()), 0);
        m = expect_snapshot(strrchr(path, '/') + 1, local_flags[_i], 0);
        assert_snapshot(m, data, size);
        mapping_release(m);
        ck_assert_int_eq(fchdir(cwd), 0);

        close(cwd);
        free(link);
        free(path);
        free(data);
}
END_TEST

/* What a test may have changed, put back even when it failed (matters with CK_FORK=no). */
static void environment_restore(void) {
        fds_restore();
        (void) unsetenv("SAFE_MMAP_SIZE_MAX");
        (void) setenv("SAFE_MMAP_SOCKET", no_daemon_socket, 1);
}

int main(int argc, char **argv) {
        Suite *s = suite_create("unit");
        TCase *tc;
        int r;

        /* Never reach a daemon that happens to run on this machine. */
        no_daemon_socket = scratch_path("no-daemon");
        if (setenv("SAFE_MMAP_SOCKET", no_daemon_socket, 1) < 0)
                return EXIT_FAILURE;
        (void) unsetenv("SAFE_MMAP_SIZE_MAX");

        tc = tcase_create("content");
        tcase_add_checked_fixture(tc, NULL, environment_restore);
        tcase_add_loop_test(tc, test_snapshot_path, 0, N_LOCAL_FLAGS);
        tcase_add_loop_test(tc, test_snapshot_fd, 0, N_LOCAL_FLAGS);
        tcase_add_test(tc, test_snapshot_is_a_copy);
        tcase_add_test(tc, test_snapshot_of_sealed_memfd);
        tcase_add_test(tc, test_snapshot_of_unsealed_memfd);
        tcase_add_loop_test(tc, test_flags_local, 0, N_LOCAL_FLAGS);
        tcase_add_test(tc, test_require_consistent_writer);
        tcase_add_test(tc, test_require_consistent_not_owner);
        tcase_add_test(tc, test_require_consistent_lease_broken);
        tcase_add_loop_test(tc, test_empty_file, 0, N_LOCAL_FLAGS);
        tcase_add_loop_test(tc, test_procfs, 0, N_LOCAL_FLAGS);
        tcase_add_loop_test(tc, test_pseudo_files, 0, 2);
        tcase_add_loop_test(tc, test_offset_untouched, 0, N_LOCAL_FLAGS);
        tcase_add_loop_test(tc, test_sparse, 0, N_LOCAL_FLAGS);
        tcase_add_loop_test(tc, test_names, 0, N_LOCAL_FLAGS);
        suite_add_tcase(s, tc);

        tc = tcase_create("refused");
        tcase_add_checked_fixture(tc, NULL, environment_restore);
        tcase_add_loop_test(tc, test_fifo, 0, N_LOCAL_FLAGS);
        tcase_add_loop_test(tc, test_not_regular, 0, N_LOCAL_FLAGS);
        tcase_add_loop_test(tc, test_missing, 0, N_LOCAL_FLAGS);
        tcase_add_loop_test(tc, test_unreadable, 0, 2);
        tcase_add_loop_test(tc, test_size_limit, 0, N_LOCAL_FLAGS);
        tcase_add_loop_test(tc, test_size_limit_syntax, 0, N_LOCAL_FLAGS);
        tcase_add_test(tc, test_bad_args);
        tcase_add_test(tc, test_size_limit_zero);
        tcase_add_test(tc, test_emfile);
        suite_add_tcase(s, tc);

        tc = tcase_create("torn");
        tcase_add_test(tc, test_torn);
        suite_add_tcase(s, tc);

        tc = tcase_create("daemon-fallback");
        tcase_add_checked_fixture(tc, NULL, environment_restore);
        tcase_add_test(tc, test_no_daemon_fallback);
        suite_add_tcase(s, tc);

        r = run_suite(s, argc > 1 ? argv[1] : NULL);
        free(no_daemon_socket);
        return r;
}
