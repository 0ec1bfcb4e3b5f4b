/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * What a client receives from a running safe-mmapd: the bytes of the file,
 * in a memfd it cannot write, grow, shrink or reseal, through an open file
 * description of its own. Runs against `--listen` and, with the argument
 * "activation", under systemd-socket-activate --seqpacket.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "raw-client.h"
#include "safe-mmap.h"

#define REQUIRED_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
#define FILE_SIZE (100u * 1024u + 123u)

static HarnessMode mode = HARNESS_LISTEN;
static Harness h;
static char *file_path;
static uint8_t *file_data;

static void setup(void) {
        ck_assert_int_eq(harness_setup(&h), 0);
        file_path = harness_path(&h, "data");
        file_data = malloc(FILE_SIZE);
        ck_assert_ptr_nonnull(file_data);
        for (size_t i = 0; i < FILE_SIZE; i++)
                file_data[i] = (uint8_t) (i * 7 + i / 251);
        ck_assert_int_eq(harness_write_file(file_path, 0644, file_data, FILE_SIZE), 0);
        ck_assert_int_eq(harness_start(&h, mode, NULL), 0);
}

static void teardown(void) {
        ck_assert_int_eq(harness_finish(&h), 0);
        free(file_path);
        free(file_data);
}

/* Requests a snapshot of file_path over a fresh connection; checks the reply and returns the fd. */
static int snapshot(uint32_t *ret_flags) {
        _cleanup_close_ int file = -EBADF;
        ProtoReply reply;
        int fd = -EBADF;

        file = open(file_path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(file, 0);
        /* Wherever the client's offset stands, the snapshot is of the whole file. */
        ck_assert_int_eq(lseek(file, 100, SEEK_SET), 100);
        ck_assert_int_eq(raw_oneshot_fd(h.socket_path, file, 0, &reply, &fd), 0);
        ck_assert_int_eq(reply.type, PROTO_REPLY_SNAPSHOT);
        ck_assert_int_eq(reply.status, 0);
        ck_assert_int_eq(reply.kind, PROTO_KIND_SEALED_MEMFD);
        ck_assert_uint_eq(reply.size, FILE_SIZE);
        ck_assert_int_ge(fd, 0);
        /* The client's own file offset is not the daemon's to move. */
        ck_assert_int_eq(lseek(file, 0, SEEK_CUR), 100);
        if (ret_flags)
                *ret_flags = reply.flags;
        return fd;
}

START_TEST(test_snapshot_equals_file) {
        _cleanup_free_ uint8_t *buf = malloc(FILE_SIZE + 1);
        _cleanup_close_ int fd = snapshot(NULL);
        struct stat st;

        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_int_eq(st.st_size, FILE_SIZE);
        ck_assert_int_eq(pread(fd, buf, FILE_SIZE + 1, 0), FILE_SIZE);
        ck_assert_mem_eq(buf, file_data, FILE_SIZE);
}
END_TEST

START_TEST(test_sealed_read_only) {
        _cleanup_close_ int fd = snapshot(NULL);
        int seals, fl;
        void *p;

        seals = fcntl(fd, F_GET_SEALS);
        ck_assert_int_ge(seals, 0);
        ck_assert_int_eq(seals & REQUIRED_SEALS, REQUIRED_SEALS);

        fl = fcntl(fd, F_GETFL);
        ck_assert_int_ge(fl, 0);
        ck_assert_int_eq(fl & O_ACCMODE, O_RDONLY);

        /* Every way of changing the bytes the client received is closed. */
        ck_assert_int_eq(pwrite(fd, "x", 1, 0), -1);
        ck_assert_int_eq(ftruncate(fd, 1), -1);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), -1);
        p = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ck_assert(p == MAP_FAILED);
        p = mmap(NULL, FILE_SIZE, PROT_READ, MAP_PRIVATE, fd, 0);
        ck_assert(p != MAP_FAILED);
        ck_assert_mem_eq(p, file_data, FILE_SIZE);
        ck_assert_int_eq(munmap(p, FILE_SIZE), 0);

        /* The memfd's name is the daemon's constant, never the client's path. */
        {
                char link[64], target[PATH_MAX] = {};
                snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
                ck_assert_int_gt(readlink(link, target, sizeof(target) - 1), 0);
                ck_assert_msg(strncmp(target, "/memfd:", 7) == 0, "not a memfd: %s", target);
                ck_assert_msg(!strstr(target, h.dir + 1) && !strstr(target, "data"), "memfd named after the file: %s", target);
        }

        /* Reopening through /proc for writing must not get around the read-only description. */
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        _cleanup_close_ int rw = open(proc, O_RDWR | O_CLOEXEC);
        if (rw >= 0)
                ck_assert_int_eq(pwrite(rw, "x", 1, 0), -1);
}
END_TEST

START_TEST(test_independent_offsets) {
        _cleanup_close_ int a = snapshot(NULL), b = snapshot(NULL);
        uint8_t buf[1000];

        ck_assert_int_eq(read(a, buf, sizeof(buf)), sizeof(buf));
        ck_assert_mem_eq(buf, file_data, sizeof(buf));
        ck_assert_int_eq(lseek(a, 0, SEEK_CUR), sizeof(buf));
        ck_assert_int_eq(lseek(b, 0, SEEK_CUR), 0);
        ck_assert_int_eq(read(b, buf, 10), 10);
        ck_assert_mem_eq(buf, file_data, 10);
        ck_assert_int_eq(lseek(a, 0, SEEK_CUR), sizeof(buf));
}
END_TEST

START_TEST(test_empty_file) {
        _cleanup_free_ char *path = harness_path(&h, "empty");
        _cleanup_close_ int file = -EBADF, fd = -EBADF;
        ProtoReply reply;

        ck_assert_int_eq(harness_write_file(path, 0644, "", 0), 0);
        file = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(file, 0);
        ck_assert_int_eq(raw_oneshot_fd(h.socket_path, file, 0, &reply, &fd), 0);
        ck_assert_int_eq(reply.status, 0);
        ck_assert_uint_eq(reply.size, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fcntl(fd, F_GET_SEALS) & REQUIRED_SEALS, REQUIRED_SEALS);
}
END_TEST

START_TEST(test_library) {
        safe_mmap *m = NULL;
        int fd;

        ck_assert_int_eq(safe_mmap_snapshot(file_path, SAFE_MMAP_NO_FALLBACK, &m), 0);
        ck_assert_int_eq(safe_mmap_kind(m), SAFE_MMAP_SEALED_MEMFD);
        ck_assert_uint_eq(safe_mmap_size(m), FILE_SIZE);
        ck_assert_mem_eq(safe_mmap_data(m), file_data, FILE_SIZE);
        fd = safe_mmap_fd(m);
        ck_assert_int_eq(fcntl(fd, F_GET_SEALS) & REQUIRED_SEALS, REQUIRED_SEALS);
        ck_assert_int_eq(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
        m = safe_mmap_free(m);
}
END_TEST

START_TEST(test_status) {
        _cleanup_close_ int sock = -EBADF, fd = -EBADF;
        ProtoReply before, after;

        ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
        ck_assert_int_eq(raw_status(sock, 30000, &before), 0);
        ck_assert_int_eq(before.type, PROTO_REPLY_STATUS);
        ck_assert_int_eq(before.status, 0);
        ck_assert_uint_ge(before.connections, 1);
        fd = snapshot(NULL);
        ck_assert_int_eq(raw_status(sock, 30000, &after), 0);
        ck_assert_int_eq(after.status, 0);
        ck_assert_uint_gt(after.served, before.served);
        ck_assert_uint_ge(after.bytes_held, FILE_SIZE);
        ck_assert_uint_ge(after.uptime_usec, before.uptime_usec);
}
END_TEST

START_TEST(test_sigterm_exits_cleanly) {
        _cleanup_close_ int fd = snapshot(NULL);

        ck_assert_int_eq(harness_stop(&h), 0);
        /* The snapshot outlives the daemon: it is the client's own descriptor. */
        ck_assert_int_eq(fcntl(fd, F_GET_SEALS) & REQUIRED_SEALS, REQUIRED_SEALS);
}
END_TEST

/*
 * Kernel files (procfs, sysfs) are made up when read, by the reader: the
 * daemon refuses them (EOPNOTSUPP) without reading a byte, and leaves the
 * client's file offset alone.
 */
static void assert_pseudo_file_refused(const char *path) {
        _cleanup_close_ int file = -EBADF, fd = -EBADF;
        ProtoReply reply;

        file = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(file, 0);
        ck_assert_int_eq(lseek(file, 1, SEEK_SET), 1);
        ck_assert_int_eq(raw_oneshot_fd(h.socket_path, file, 0, &reply, &fd), 0);
        ck_assert_int_eq(lseek(file, 0, SEEK_CUR), 1);
        ck_assert_msg(reply.status == -EOPNOTSUPP, "%s: %s", path, strerror(-reply.status));
        ck_assert_int_eq(fd, -EBADF);
}

START_TEST(test_pseudo_files) {
        assert_pseudo_file_refused("/proc/version");
        assert_pseudo_file_refused("/proc/self/maps");
        if (access("/sys/devices/system/cpu/online", R_OK) == 0)
                assert_pseudo_file_refused("/sys/devices/system/cpu/online");
}
END_TEST

/* Rewrites file_path in place with @byte, keeping its size, and puts the old mtime back. */
static void rewrite_keeping_mtime(uint8_t byte) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        struct timespec times[2];
        _cleanup_free_ uint8_t *buf = malloc(FILE_SIZE);

        ck_assert_ptr_nonnull(buf);
        memset(buf, byte, FILE_SIZE);
        fd = open(file_path, O_WRONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_int_eq(pwrite(fd, buf, FILE_SIZE, 0), FILE_SIZE);
        times[0] = st.st_atim;
        times[1] = st.st_mtim;
        ck_assert_int_eq(futimens(fd, times), 0);
        memset(file_data, byte, FILE_SIZE);
}

START_TEST(test_cache_sees_changes) {
        uint32_t flags;
        uint8_t buf[FILE_SIZE];

        for (int i = 0; i < 3; i++) {
                _cleanup_close_ int a = snapshot(NULL), b = snapshot(&flags);

                /* The second request of an unchanged file comes from the cache, the same memfd... */
                ck_assert_msg(flags & PROTO_REPLY_CACHED, "round %d: not served from the cache", i);
                {
                        struct stat sa, sb;
                        ck_assert_int_eq(fstat(a, &sa), 0);
                        ck_assert_int_eq(fstat(b, &sb), 0);
                        ck_assert(sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino);
                }
                ck_assert_int_eq(pread(b, buf, FILE_SIZE, 0), FILE_SIZE);
                ck_assert_mem_eq(buf, file_data, FILE_SIZE);
                /* ...but a change the size and mtime do not show must still be seen. */
                rewrite_keeping_mtime((uint8_t) ('A' + i));
                _cleanup_close_ int c = snapshot(NULL);
                ck_assert_int_eq(pread(c, buf, FILE_SIZE, 0), FILE_SIZE);
                ck_assert_msg(memcmp(buf, file_data, FILE_SIZE) == 0,
                              "round %d: stale snapshot from the cache (got '%c')", i, buf[0]);
                /* The earlier snapshots are the client's, and do not change. */
                ck_assert_int_eq(pread(a, buf, 1, 0), 1);
                ck_assert_int_ne(buf[0], 'A' + i);
        }
}
END_TEST

START_TEST(test_exit_idle) {
        const char *const args[] = { "--exit-idle", "1", NULL };
        uint64_t t0;
        int status;

        ck_assert_int_eq(harness_stop(&h), 0);
        ck_assert_int_eq(harness_start(&h, mode, args), 0);
        /* Requests keep it alive (the idle time counts from the last one)... */
        {
                _cleanup_close_ int sock = -EBADF;
                ProtoReply reply;

                ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
                for (int i = 0; i < 6; i++) {
                        usleep(300 * 1000);
                        ck_assert_int_eq(raw_status(sock, 30000, &reply), 0);
                        ck_assert_int_eq(reply.status, 0);
                }
        }
        /* ...and once they stop, the daemon exits cleanly by itself. */
        t0 = harness_now_usec();
        status = harness_wait_exit(&h, 20000);
        ck_assert_msg(status == 0, "exit status %d after 20 s idle (-ETIMEDOUT: still running)", status);
        ck_assert_uint_ge(harness_now_usec() - t0, 500u * 1000u);
}
END_TEST

/* Waits for @pid (a daemon run with @what) to exit by itself: its exit status. Killed, and a failure, after 20 s. */
static int wait_exit(pid_t pid, const char *what) {
        uint64_t t0 = harness_now_usec();
        int status;

        for (;;) {
                pid_t p = waitpid(pid, &status, WNOHANG);
                if (p == pid)
                        break;
                if (harness_now_usec() - t0 > 20u * 1000u * 1000u) {
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                        ck_abort_msg("the daemon kept running with %s", what);
                }
                usleep(20 * 1000);
        }
        ck_assert(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/* Runs the daemon with @args (NULL-terminated, after argv[0]); returns its exit status; it must exit within 20 s. */
static int run_daemon(const char *const *args) {
        const char *daemon = getenv("SAFE_MMAPD");
        const char *argv[16] = {};
        _cleanup_close_ int null = -EBADF;
        int status;
        pid_t pid;

        ck_assert_ptr_nonnull(daemon);
        argv[0] = daemon;
        for (size_t i = 0; args[i]; i++) {
                ck_assert_uint_lt(i + 2, ELEMENTSOF(argv));
                argv[i + 1] = args[i];
        }
        null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        ck_assert_int_ge(null, 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                (void) dup2(null, STDOUT_FILENO);
                (void) dup2(null, STDERR_FILENO);
                execv(daemon, (char *const *) argv);
                _exit(127);
        }
        status = wait_exit(pid, args[0]);
        ck_assert_int_ne(status, 127);
        return status;
}

static int run_second_daemon(const char *socket_path) {
        return run_daemon((const char *const[]) { "--listen", socket_path, "--policy-dir", h.policy_dir, NULL });
}

START_TEST(test_command_line) {
        _cleanup_free_ char *sock = harness_path(&h, "other-socket");
        const char *const bad[][4] = {
                { "--max-size", "1X" },
                { "--max-size", "-1" },
                { "--max-size", "" },
                { "--max-connections", "0" },
                { "--max-connections-per-uid", "many" },
                { "--idle-timeout", "-5" },
                { "--exit-idle", "1e3" },
                { "--cache-size", "99999999999999999999999" },
                { "--no-such-option" },
                { "stray-argument" },
        };

        ck_assert_int_eq(run_daemon((const char *const[]) { "--help", NULL }), 0);
        ck_assert_int_eq(run_daemon((const char *const[]) { "--version", NULL }), 0);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                const char *args[8] = {};
                size_t n = 0;

                for (size_t k = 0; k < 4 && bad[i][k]; k++)
                        args[n++] = bad[i][k];
                args[n++] = "--listen";
                args[n++] = sock;
                ck_assert_msg(run_daemon(args) != 0, "%s %s accepted", bad[i][0], bad[i][1] ?: "");
        }
        /* No socket was left behind by the refusals. */
        ck_assert_int_lt(access(sock, F_OK), 0);
}
END_TEST

START_TEST(test_exit_idle_waits_for_held_snapshots) {
        const char *const args[] = { "--exit-idle", "1", NULL };
        _cleanup_close_ int held = -EBADF;
        int status;

        ck_assert_int_eq(harness_stop(&h), 0);
        ck_assert_int_eq(harness_start(&h, mode, args), 0);
        /* No connection, but a snapshot still in a client's hands: its accounting must outlive the idle timer. */
        held = snapshot(NULL);
        usleep(3 * 1000 * 1000);
        ck_assert_msg(waitpid(h.pid, &status, WNOHANG) == 0, "exited idle while a client held a snapshot");
        held = safe_close(held);
        status = harness_wait_exit(&h, 20000);
        ck_assert_msg(status == 0, "exit status %d 20 s after the last snapshot was released (-ETIMEDOUT: still running)",
                      status);
}
END_TEST

START_TEST(test_live_socket_not_taken_over) {
        _cleanup_close_ int sock = -EBADF;
        ProtoReply reply;

        ck_assert_int_ne(run_second_daemon(h.socket_path), 0);
        /* The first one still owns the socket. */
        ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
        ck_assert_int_eq(raw_status(sock, 30000, &reply), 0);
        ck_assert_int_eq(reply.status, 0);
}
END_TEST

START_TEST(test_non_socket_left_alone) {
        _cleanup_free_ char *path = harness_path(&h, "not-a-socket");
        char buf[16] = {};
        _cleanup_close_ int fd = -EBADF;

        /* Only a stale socket may be replaced; a file in the way is somebody's data. */
        ck_assert_int_eq(harness_write_file(path, 0644, "precious", 8), 0);
        ck_assert_int_ne(run_second_daemon(path), 0);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(read(fd, buf, sizeof(buf)), 8);
        ck_assert_str_eq(buf, "precious");
}
END_TEST

START_TEST(test_notify_ready) {
        _cleanup_free_ char *path = harness_path(&h, "notify");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int ns = -EBADF;
        bool ready = false;

        ck_assert_int_eq(harness_stop(&h), 0);
        ns = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(ns, 0);
        ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        ck_assert_int_eq(bind(ns, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
        ck_assert_int_eq(harness_start(&h, mode, NULL), 0);
        ck_assert_int_eq(unsetenv("NOTIFY_SOCKET"), 0);

        for (int i = 0; i < 20 && !ready; i++) {
                char buf[4096];
                ssize_t n = raw_recv(ns, buf, sizeof(buf) - 1, 10000, NULL, NULL);

                ck_assert_int_gt(n, 0);
                buf[n] = '\0';
                for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
                        ready = ready || strcmp(line, "READY=1") == 0;
        }
        ck_assert_msg(ready, "no READY=1 on $NOTIFY_SOCKET");
}
END_TEST

/* Under activation, a stream socket is not the daemon's to serve: it closes it and, left with none, exits. */
START_TEST(test_activation_stream_socket_refused) {
        _cleanup_free_ char *path = harness_path(&h, "stream"), *log = harness_path(&h, "stream.log");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int sock = -EBADF;
        uint64_t t0;
        int status;
        pid_t pid;

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(127);
                execlp("systemd-socket-activate", "systemd-socket-activate", "-l", path,
                       "-E", "ASAN_OPTIONS", "-E", "UBSAN_OPTIONS",
                       getenv("SAFE_MMAPD"), "--policy-dir", h.policy_dir, (char *) NULL);
                _exit(127);
        }
        ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(sock, 0);
        t0 = harness_now_usec();
        while (connect(sock, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                ck_assert_msg(harness_now_usec() - t0 < 20u * 1000u * 1000u, "no stream socket: %m");
                usleep(20 * 1000);
        }
        status = wait_exit(pid, "a stream socket");
        ck_assert_int_ne(status, 0);
        ck_assert_int_ne(status, 127);
}
END_TEST

/* Under activation, every socket systemd passes is served. */
START_TEST(test_activation_two_sockets) {
        _cleanup_free_ char *a = harness_path(&h, "a"), *b = harness_path(&h, "b"), *log = harness_path(&h, "two.log");
        int status;
        pid_t pid;

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                        _exit(127);
                execlp("systemd-socket-activate", "systemd-socket-activate", "--seqpacket", "-l", a, "-l", b,
                       "-E", "ASAN_OPTIONS", "-E", "UBSAN_OPTIONS",
                       getenv("SAFE_MMAPD"), "--policy-dir", h.policy_dir, (char *) NULL);
                _exit(127);
        }
        /* The first connection (to the second socket) starts the daemon; then both answer. */
        for (int round = 0; round < 2; round++)
                for (int i = 0; i < 2; i++) {
                        const char *path = i == 0 ? b : a;
                        uint64_t t0 = harness_now_usec();
                        _cleanup_close_ int sock = -EBADF;
                        ProtoReply reply;

                        while (raw_connect(path, &sock) < 0) {
                                ck_assert_msg(harness_now_usec() - t0 < 20u * 1000u * 1000u, "no socket %s", path);
                                usleep(20 * 1000);
                        }
                        ck_assert_int_eq(raw_status(sock, 30000, &reply), 0);
                        ck_assert_int_eq(reply.status, 0);
                }
        ck_assert_int_eq(kill(pid, SIGTERM), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

int main(int argc, char *argv[]) {
        TCase *tc;
        Suite *s;

        if (argc > 1 && strcmp(argv[1], "activation") == 0) {
                if (!harness_have_program("systemd-socket-activate")) {
                        fprintf(stderr, "SKIP: systemd-socket-activate not installed\n");
                        return 77;
                }
                mode = HARNESS_ACTIVATION;
        }

        s = harness_suite("serve", 120, setup, teardown, &tc);
        tcase_add_test(tc, test_snapshot_equals_file);
        tcase_add_test(tc, test_sealed_read_only);
        tcase_add_test(tc, test_independent_offsets);
        tcase_add_test(tc, test_empty_file);
        tcase_add_test(tc, test_library);
        tcase_add_test(tc, test_status);
        tcase_add_test(tc, test_sigterm_exits_cleanly);
        tcase_add_test(tc, test_pseudo_files);
        tcase_add_test(tc, test_cache_sees_changes);
        tcase_add_test(tc, test_exit_idle);
        tcase_add_test(tc, test_exit_idle_waits_for_held_snapshots);
        tcase_add_test(tc, test_notify_ready);
        if (mode == HARNESS_LISTEN) {
                tcase_add_test(tc, test_live_socket_not_taken_over);
                tcase_add_test(tc, test_non_socket_left_alone);
                tcase_add_test(tc, test_command_line);
        } else {
                tcase_add_test(tc, test_activation_stream_socket_refused);
                tcase_add_test(tc, test_activation_two_sockets);
        }

        return harness_run_suite(s);
}
